from django.urls import path

from apps.metrics import views

app_name = "metrics"

urlpatterns = [
    path("", views.index, name="dashboard"),
    path("queues/", views.queues, name="queues"),
    path("worker-alert/", views.worker_alert, name="worker-alert"),
]
