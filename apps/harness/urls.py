from django.urls import path

from apps.harness import views

app_name = "harness"

urlpatterns = [
    path("", views.comparison_list, name="comparison-list"),
    path("<uuid:public_id>/", views.comparison_detail, name="comparison-detail"),
    path("<uuid:public_id>/diff/<int:cell_id>.png", views.cell_diff, name="cell-diff"),
]
