from django.urls import path

from apps.renders import views

app_name = "renders"

urlpatterns = [
    path("", views.job_list, name="job-list"),
    path("new/", views.job_new, name="job-new"),
    path("new/fields/", views.template_fields, name="template-fields"),
    path("<uuid:public_id>/", views.job_detail, name="job-detail"),
    path("<uuid:public_id>/final/", views.job_final, name="job-final"),
    path("<uuid:public_id>/cancel/", views.job_cancel_view, name="job-cancel"),
    path("<uuid:public_id>/again/", views.job_again, name="job-again"),
    path("<uuid:public_id>/attempts/<int:number>/image/", views.attempt_image, name="attempt-image"),
    path("<uuid:public_id>/attempts/<int:number>/thumb/", views.attempt_thumb, name="attempt-thumb"),
    path("download/", views.jobs_download, name="jobs-download"),
]
