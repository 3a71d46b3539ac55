"""Side-by-side harness pages (admin role)."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from apps.core.access import permission_required
from apps.harness import services
from apps.harness.forms import ComparisonForm
from apps.harness.models import Comparison, ComparisonCell
from apps.renders.models import SETTLED_STATUSES

PERM = "engines.manage_engines"
SETTLED = SETTLED_STATUSES


@permission_required(PERM)
@require_http_methods(["GET", "POST"])
def comparison_list(request: HttpRequest) -> HttpResponse:
    form = ComparisonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            comparison = services.comparison_create(
                name=data["name"],
                engines=list(data["engines"]),
                prompts=data["prompts"],
                seeds=data["seeds"],
                width=data["size"][0],
                height=data["size"][1],
                tier=data["tier"],
                by=request.user,
            )
        except services.ComparisonError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("harness:comparison-detail", public_id=comparison.public_id)
    page = Paginator(Comparison.objects.select_related("created_by").prefetch_related("engines"), 20).get_page(
        request.GET.get("page")
    )
    return render(request, "harness/comparison_list.html", {"form": form, "page": page})


@permission_required(PERM)
@require_GET
@vary_on_headers("HX-Request")
def comparison_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    comparison = get_object_or_404(Comparison, public_id=public_id)
    rows = services.comparison_grid(comparison)
    running = any(cell.job_status not in SETTLED for row in rows for cell in row.cells)
    context = {
        "comparison": comparison,
        "rows": rows,
        "summary": services.comparison_summary(rows),
        "running": running,
        "engines": list(comparison.engines.order_by("slug")),
    }
    if request.htmx:
        response = render(request, "harness/comparison_detail.html#comparison-grid", context)
        if not running:
            response.status_code = HttpResponseStopPolling.status_code
        return response
    return render(request, "harness/comparison_detail.html", context)


@permission_required(PERM)
@require_GET
def cell_diff(request: HttpRequest, public_id: str, cell_id: int) -> HttpResponse:
    """Heat map of where this cell's image differs from the first engine's in its row."""
    cell = get_object_or_404(
        ComparisonCell.objects.select_related("job").prefetch_related("job__attempts"),
        pk=cell_id,
        comparison__public_id=public_id,
    )
    row = (
        ComparisonCell.objects.filter(comparison=cell.comparison, prompt_index=cell.prompt_index, seed=cell.seed)
        .select_related("job")
        .prefetch_related("job__attempts")
        .order_by("engine__slug")
    )
    first, this = services.cell_attempt(row[0]), services.cell_attempt(cell)
    if first is None or this is None or not first.image or not this.image:
        return HttpResponse("No image to compare yet.", status=404, content_type="text/plain")
    return HttpResponse(services.difference_heatmap(first, this), content_type="image/png")
