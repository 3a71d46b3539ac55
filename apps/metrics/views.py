from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.core.access import permission_required
from apps.metrics import selectors


@permission_required("renders.view_all_renders")
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    total, per_template = selectors.gate_metrics()
    context = {"total": total, "per_template": per_template, "queue_depth": selectors.queue_depth()}
    return render(request, "metrics/dashboard.html", context)
