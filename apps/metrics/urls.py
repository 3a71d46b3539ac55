from django.urls import path

from apps.metrics import views

app_name = "metrics"

urlpatterns = [
    path("", views.index, name="dashboard"),
    path("queues/", views.queues, name="queues"),
    path("templates/<slug:slug>/adapters/", views.template_adapters, name="template-adapters"),
    path("worker-alert/", views.worker_alert, name="worker-alert"),
]
