from django.urls import path

from apps.training import views

app_name = "training"

urlpatterns = [
    path("templates/<slug:slug>/export/", views.export_create, name="export-create"),
    path("templates/<slug:slug>/exports/", views.export_panel, name="export-panel"),
    path("exports/<uuid:public_id>/download/", views.export_download, name="export-download"),
]
