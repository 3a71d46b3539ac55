from django.urls import path

from apps.policy import views

app_name = "policy"

urlpatterns = [
    path("", views.tier_list, name="tier-list"),
    path("tiers/new/", views.tier_edit, name="tier-new"),
    path("tiers/<slug:slug>/", views.tier_edit, name="tier-edit"),
    path("routing/", views.routing, name="routing"),
    path("routing/new/", views.asset_class_save, name="asset-class-new"),
    path("routing/<slug:slug>/", views.asset_class_save, name="asset-class-save"),
    path("audit/", views.audit_log, name="audit-log"),
]
