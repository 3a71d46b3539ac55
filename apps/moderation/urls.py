from django.urls import path

from apps.moderation import views

app_name = "moderation"

urlpatterns = [
    path("", views.index, name="queue"),
]
