from django.urls import path

from apps.engines import views

app_name = "engines"

urlpatterns = [
    path("", views.engine_list, name="engine-list"),
    path("new/", views.engine_create, name="engine-create"),
    path("<slug:slug>/", views.engine_detail, name="engine-detail"),
    path("<slug:slug>/edit/", views.engine_edit, name="engine-edit"),
    path("<slug:slug>/test/", views.engine_test, name="engine-test"),
]
