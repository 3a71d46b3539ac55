from django.urls import path

from apps.moderation import views

app_name = "moderation"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("next/", views.claim_next, name="claim-next"),
    path("bulk/", views.bulk, name="bulk"),
    path("undo/", views.undo_decisions, name="undo"),
    path("<uuid:public_id>/", views.review, name="review"),
    path("<uuid:public_id>/claim/", views.claim, name="claim"),
    path("<uuid:public_id>/release/", views.release, name="release"),
    path("<uuid:public_id>/approve/", views.approve, name="approve"),
    path("<uuid:public_id>/reject/", views.reject, name="reject"),
    path("<uuid:public_id>/rerender/", views.rerender, name="rerender"),
]
