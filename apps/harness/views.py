"""Side-by-side harness pages (admin role)."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from apps.catalog.models import Template
from apps.core.access import permission_required
from apps.engines.adapter_support import engine_adapter_support
from apps.engines.models import Engine
from apps.harness import adapter_trials, services
from apps.harness.forms import AdapterTrialForm, ComparisonForm
from apps.harness.models import AdapterTrial, Comparison, ComparisonCell
from apps.renders.models import SETTLED_STATUSES, RenderJob

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


def _trial_form_context(template: Template | None, form: AdapterTrialForm | None) -> dict[str, object]:
    reference = template.adapter.reference if template is not None and template.adapter is not None else None
    rows = [(e, engine_adapter_support(engine=e, reference=reference)) for e in Engine.objects.filter(enabled=True)]
    return {
        "template": template,
        "form": form,
        "templates": Template.objects.filter(is_active=True).exclude(adapter=None).select_related("adapter"),
        "excluded": [(e, s) for e, s in rows if not s.supported],
        "trials": AdapterTrial.objects.select_related("template", "adapter", "engine")[:20],
    }


@permission_required(PERM)
@require_http_methods(["GET", "POST"])
def adapter_trial_new(request: HttpRequest) -> HttpResponse:
    """The before/after preset: pick a template with an adapter, an engine that applies it,
    texts and seeds; POST starts both arms and redirects to the trial."""
    slug = request.POST.get("template") or request.GET.get("template") or ""
    template = Template.objects.filter(slug=slug).select_related("adapter").first() if slug else None
    if template is None or template.adapter is None:
        return render(request, "harness/adapter_trial_new.html", _trial_form_context(None, None))
    engines = [
        e
        for e in Engine.objects.filter(enabled=True)
        if engine_adapter_support(engine=e, reference=template.adapter.reference).supported
    ]
    last = RenderJob.objects.filter(template=template).exclude(texts={}).order_by("-created_at").first()
    initial = {f"text_{k}": v for k, v in (last.texts if last else {}).items()}
    form = AdapterTrialForm(request.POST or None, template=template, engines=engines, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            trial = adapter_trials.adapter_trial_create(
                template=template,
                engine=form.cleaned_data["engine"],
                texts=form.texts(),
                seeds=form.cleaned_data["seeds"],
                tier=form.cleaned_data["tier"],
                by=request.user,
            )
        except adapter_trials.TrialError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("harness:adapter-trial-detail", public_id=trial.public_id)
    return render(request, "harness/adapter_trial_new.html", _trial_form_context(template, form))


@permission_required(PERM)
@require_GET
@vary_on_headers("HX-Request")
def adapter_trial_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    trial = get_object_or_404(AdapterTrial.objects.select_related("template", "adapter", "engine"), public_id=public_id)
    view = adapter_trials.adapter_trial_view(trial)
    context = {"trial": trial, "view": view, "arms": [view.without, view.with_adapter]}
    context["deltas"] = [(view.with_adapter, view.delta)]
    if request.htmx:
        response = render(request, "harness/adapter_trial_detail.html#trial-results", context)
        if not view.running:
            response.status_code = HttpResponseStopPolling.status_code
        return response
    return render(request, "harness/adapter_trial_detail.html", context)
