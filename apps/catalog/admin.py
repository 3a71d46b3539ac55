from typing import Any

from django.contrib import admin
from django.forms import ModelForm
from django.http import HttpRequest

from apps.catalog.models import Adapter, Template, TemplateAdapterChange
from apps.catalog.services import template_save, template_snapshot


@admin.register(Adapter)
class AdapterAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "base_model", "reference", "default_strength"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug", "reference", "base_model"]


class AdapterChangeInline(admin.TabularInline):
    model = TemplateAdapterChange
    extra = 0
    can_delete = False
    fields = ["changed_at", "adapter", "strength", "changed_by", "note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    """Templates are edited here (superusers); every save lands in the audit log with
    before/after (catalog.services.template_save)."""

    list_display = ["name", "slug", "adapter", "is_active"]
    # The adapter changes only on the template's page (`template_set_adapter`), which writes the
    # history; editing it here would change it without a history row.
    readonly_fields = ["adapter", "adapter_strength"]
    inlines = [AdapterChangeInline]

    def save_model(self, request: HttpRequest, obj: Template, form: ModelForm, change: bool) -> None:
        before: dict[str, Any] | None = None
        if change and obj.pk:
            before = template_snapshot(Template.objects.get(pk=obj.pk))
        template_save(template=obj, before=before, by=request.user)
