from django.urls import path

from apps.catalog import views

app_name = "catalog"

urlpatterns = [
    path("", views.template_list, name="template-list"),
    path("adapters/", views.adapter_list, name="adapter-list"),
    path("adapters/new/", views.adapter_edit, name="adapter-new"),
    path("adapters/<slug:slug>/", views.adapter_edit, name="adapter-edit"),
    path("<slug:slug>/", views.template_detail, name="template-detail"),
    path("<slug:slug>/adapter/", views.template_adapter_set, name="template-adapter-set"),
]
