"""Template pages (admin role): each template's active adapter, its history and the engines
that apply it or not; adapters created and edited here. Plain POST + redirect, no JavaScript."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.catalog import selectors
from apps.catalog.forms import AdapterForm, TemplateAdapterForm
from apps.catalog.models import Adapter, Template
from apps.catalog.services import template_set_adapter
from apps.core.access import permission_required

MANAGE = "catalog.manage_adapters"


@permission_required(MANAGE)
@require_GET
def template_list(request: HttpRequest) -> HttpResponse:
    templates = Template.objects.select_related("adapter")
    return render(request, "catalog/template_list.html", {"templates": templates})


def _detail_context(template: Template, form: TemplateAdapterForm) -> dict[str, object]:
    rows = selectors.engine_adapter_rows(adapter=template.adapter)
    return {
        "template": template,
        "form": form,
        "history": selectors.template_adapter_history(template=template),
        "engine_rows": rows,
        "not_applied_on": [r for r in rows if not r.support.supported] if template.adapter_id else [],
    }


@permission_required(MANAGE)
@require_GET
def template_detail(request: HttpRequest, slug: str) -> HttpResponse:
    template = get_object_or_404(Template.objects.select_related("adapter"), slug=slug)
    form = TemplateAdapterForm(initial={"adapter": template.adapter, "strength": template.adapter_strength})
    return render(request, "catalog/template_detail.html", _detail_context(template, form))


@permission_required(MANAGE)
@require_POST
def template_adapter_set(request: HttpRequest, slug: str) -> HttpResponse:
    template = get_object_or_404(Template.objects.select_related("adapter"), slug=slug)
    form = TemplateAdapterForm(request.POST)
    if not form.is_valid():
        return render(request, "catalog/template_detail.html", _detail_context(template, form))
    change = template_set_adapter(
        template=template,
        adapter=form.cleaned_data["adapter"],
        strength=form.cleaned_data["strength"],
        by=request.user,
        note=form.cleaned_data["note"],
    )
    if change is None:
        messages.info(request, "Nothing changed.")
    elif change.adapter is None:
        messages.success(request, f"{template.name} now renders without an adapter.")
    else:
        messages.success(request, f"{template.name} now renders with {change.adapter.name}.")
    return redirect("catalog:template-detail", slug=template.slug)


@permission_required(MANAGE)
@require_GET
def adapter_list(request: HttpRequest) -> HttpResponse:
    return render(request, "catalog/adapter_list.html", {"adapters": selectors.adapters_with_use()})


@permission_required(MANAGE)
@require_http_methods(["GET", "POST"])
def adapter_edit(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    adapter = get_object_or_404(Adapter, slug=slug) if slug else None
    form = AdapterForm(request.POST or None, instance=adapter)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, f"Adapter {saved.name} saved.")
        return redirect("catalog:adapter-list")
    return render(request, "catalog/adapter_form.html", {"form": form, "adapter": adapter})
