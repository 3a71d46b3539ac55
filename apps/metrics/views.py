from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from apps.core.access import permission_required
from apps.metrics import operations, prometheus, selectors


@permission_required("renders.view_all_renders")
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    total, per_template = selectors.gate_metrics()
    context = {"total": total, "per_template": per_template, "queue_depth": selectors.queue_depth()}
    return render(request, "metrics/dashboard.html", context)


@permission_required("core.view_operations")
@require_GET
@vary_on_headers("HX-Request")
def queues(request: HttpRequest) -> HttpResponse:
    context = {"overview": operations.operations_overview()}
    if request.htmx:
        return render(request, "metrics/queues.html#queues-live", context)
    return render(request, "metrics/queues.html", context)


@login_required
@require_GET
def worker_alert(request: HttpRequest) -> HttpResponse:
    """The banner alone, which every page polls so an open page learns of a dead worker."""
    return render(request, "components/_worker_alert.html")


@never_cache
@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition; a bearer token (METRICS_TOKEN) or an allowlisted address."""
    denied = prometheus.access_denied(request)
    if denied is not None:
        return denied
    body, content_type = prometheus.exposition()
    return HttpResponse(body, content_type=content_type)
