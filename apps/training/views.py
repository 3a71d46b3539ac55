"""The template page's training-set export (admins): ask for one, watch it build, download it.

Works without JavaScript (POST + redirect back to the template page); with htmx the panel
swaps in place and polls while an export is building."""

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from apps.catalog.models import Template
from apps.core.access import permission_required
from apps.training import services
from apps.training.forms import ExportForm
from apps.training.models import ExportStatus, TrainingExport
from apps.training.selectors import template_exports

# Exports feed adapter training: whoever may attach adapters to templates may export.
EXPORT_PERM = "catalog.manage_adapters"
PANEL = "training/_export_panel.html"


def running(exports: list[TrainingExport]) -> bool:
    """Whether the panel should keep polling: an export is building and not stale."""
    return any(not e.is_finished and not e.is_stale for e in exports)


def _panel(request: HttpRequest, template: Template, form: ExportForm | None = None) -> HttpResponse:
    exports = template_exports(template=template)
    context = {"show": True, "template": template, "form": form or ExportForm(), "exports": exports}
    context["running"] = running(exports)
    response = render(request, PANEL, context)
    if request.method == "GET" and not context["running"]:
        response.status_code = HttpResponseStopPolling.status_code
    return response


def _template_page(template: Template) -> str:
    return reverse("catalog:template-detail", kwargs={"slug": template.slug}) + "#training-export"


@permission_required(EXPORT_PERM)
@require_POST
@vary_on_headers("HX-Request")
def export_create(request: HttpRequest, slug: str) -> HttpResponse:
    template = get_object_or_404(Template, slug=slug)
    form = ExportForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            return _panel(request, template, form)
        for field, errors in form.errors.items():
            messages.error(request, f"Training-set export not started: {field}: {' '.join(errors)}")
        return redirect(_template_page(template))
    services.training_export_request(
        template=template,
        by=request.user,
        since=form.cleaned_data["since"],
        split=form.cleaned_data["split"],
        min_real=form.cleaned_data["min_real"],
    )
    if request.htmx:
        return _panel(request, template)
    return redirect(_template_page(template))


@permission_required(EXPORT_PERM)
@require_GET
def export_panel(request: HttpRequest, slug: str) -> HttpResponse:
    """The panel alone (htmx polls it while an export builds; 286 stops the polling)."""
    return _panel(request, get_object_or_404(Template, slug=slug))


@permission_required(EXPORT_PERM)
@require_GET
def export_download(request: HttpRequest, public_id: str) -> HttpResponse:
    export = get_object_or_404(TrainingExport.objects.select_related("template"), public_id=public_id)
    if export.status != ExportStatus.DONE or not export.archive:
        return HttpResponse("This export has no file (yet).", status=404, content_type="text/plain")
    day = (export.finished_at or export.created_at).strftime("%Y%m%d")
    return FileResponse(
        export.archive.open("rb"),
        as_attachment=True,
        filename=f"{export.template.slug}-training-set-{day}.zip",
        content_type="application/zip",
    )
