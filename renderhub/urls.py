from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from apps.metrics.views import prometheus_metrics

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="renders:job-new", permanent=False)),
    path("accounts/", include("apps.accounts.urls")),
    path("renders/", include("apps.renders.urls")),
    path("api/", include("apps.renders.api_urls")),
    path("v1/", include("apps.renders.openai_urls")),
    path("engines/", include("apps.engines.urls")),
    path("templates/", include("apps.catalog.urls")),
    path("policy/", include("apps.policy.urls")),
    path("moderation/", include("apps.moderation.urls")),
    path("metrics/", include("apps.metrics.urls")),
    path("metrics", prometheus_metrics, name="prometheus-metrics"),  # Prometheus scrapes this
    path("harness/", include("apps.harness.urls")),
    path("training/", include("apps.training.urls")),
    path("django-admin/", admin.site.urls),
]

# Error pages answer API clients in JSON (apps/core/errors.py).
handler400 = "apps.core.errors.bad_request"
handler403 = "apps.core.errors.permission_denied"
handler404 = "apps.core.errors.page_not_found"
handler500 = "apps.core.errors.server_error"
