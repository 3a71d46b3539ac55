from django.urls import path

from apps.harness import views

app_name = "harness"

urlpatterns = [
    path("", views.comparison_list, name="comparison-list"),
    path("adapters/", views.adapter_trial_new, name="adapter-trial-new"),
    path("adapters/<uuid:public_id>/", views.adapter_trial_detail, name="adapter-trial-detail"),
    path("<uuid:public_id>/", views.comparison_detail, name="comparison-detail"),
    path("<uuid:public_id>/diff/<int:cell_id>.png", views.cell_diff, name="cell-diff"),
]
