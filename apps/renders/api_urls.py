from django.urls import path

from apps.renders import api, openapi

app_name = "api"

urlpatterns = [
    path("openapi.json", openapi.openapi_json, name="openapi"),
    path("models/render", api.models_render, name="models-render"),
    path("models/<slug:engine_slug>", api.models_engine, name="models-engine"),
    path("v1/renders", api.renders_create, name="render-create"),
    path("v1/renders/<uuid:public_id>", api.renders_detail, name="render-detail"),
    path("v1/renders/<uuid:public_id>/image", api.renders_image, name="render-image"),
]
