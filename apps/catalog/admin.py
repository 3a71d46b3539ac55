from typing import Any

from django.contrib import admin
from django.forms import ModelForm
from django.http import HttpRequest

from apps.catalog.models import Template
from apps.catalog.services import template_save, template_snapshot


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    """Templates are edited here (superusers); every save lands in the audit log with
    before/after (catalog.services.template_save)."""

    def save_model(self, request: HttpRequest, obj: Template, form: ModelForm, change: bool) -> None:
        before: dict[str, Any] | None = None
        if change and obj.pk:
            before = template_snapshot(Template.objects.get(pk=obj.pk))
        template_save(template=obj, before=before, by=request.user)
