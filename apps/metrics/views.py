from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from apps.catalog.models import Template
from apps.core.access import permission_required
from apps.metrics import charts, ops, prometheus, queue_health, selectors
from apps.renders.adapter_metrics import adapter_arms, arm_deltas
from apps.renders.models import RenderJob


@permission_required("renders.view_all_renders")
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    range_ = request.GET.get("range", "day")
    range_ = range_ if range_ in ops.RANGES else "day"
    source = request.GET.get("source", "")
    source = source if source in ops.SOURCES else ""
    figures = ops.ops_metrics(range_=range_, source=source)
    total, per_template = selectors.gate_metrics()
    context = {
        "total": total,
        "per_template": per_template,
        "queue_depth": selectors.queue_depth(),
        "ops": figures,
        "ranges": list(ops.RANGES),
        "sources": ops.SOURCES,
        **_charts(figures),
    }
    return render(request, "metrics/dashboard.html", context)


def _charts(figures: ops.OpsMetrics) -> dict[str, charts.Chart | str]:
    fmt = "%H:%M" if figures.range != "week" else "%a %H:%M"
    labels = [timezone.localtime(b.start).strftime(fmt) for b in figures.series]
    latency = charts.line_chart(
        series=[
            # One series over every tier's jobs: its top is not any tier's p95 in the table,
            # and the labels say so.
            ("p95 to preview, all tiers", "series-preview", [b.p95_preview for b in figures.series]),
            ("p95 to final, all tiers", "series-final", [b.p95_final for b in figures.series]),
        ],
        labels=labels,
        y_label="ms",
    )
    spend = charts.bar_chart(
        values=[float(b.spent) for b in figures.series],
        labels=labels,
        y_label="US$",
        titles=[
            f"{label}: ${b.spent:.4f}, {b.jobs} jobs, {b.delivered} delivered"
            for label, b in zip(labels, figures.series, strict=True)
        ],
    )
    bucket = ops.BUCKETS[figures.range]
    minutes = int(bucket.total_seconds() // 60)
    per = f"{minutes // 60} h" if minutes >= 60 else f"{minutes} min"
    title = (
        f"p95 time to preview and to final per {per}, all tiers' jobs together (a fast and a slow tier "
        "mixed: the per-tier p95 is in the table above)"
    )
    spend_title = f"Spend per {per} of submission (US$: every attempt of the jobs submitted then)"
    return {"latency_chart": latency, "spend_chart": spend, "latency_title": title, "spend_title": spend_title}


@permission_required("core.view_operations")
@require_GET
@vary_on_headers("HX-Request")
def queues(request: HttpRequest) -> HttpResponse:
    context = {
        "overview": queue_health.operations_overview(),
        "sweep_interval_s": f"{settings.RENDERHUB_SWEEP_INTERVAL_S:g}",
    }
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


@permission_required("renders.view_all_renders")
@require_GET
def template_adapters(request: HttpRequest, slug: str) -> HttpResponse:
    """One template's renders split by the adapter they used, with the difference each
    adapter makes against rendering without one."""
    template = get_object_or_404(Template.objects.select_related("adapter"), slug=slug)
    arms = adapter_arms(jobs=RenderJob.objects.filter(template=template))
    context = {"template": template, "arms": arms, "deltas": arm_deltas(arms)}
    return render(request, "metrics/template_adapters.html", context)
