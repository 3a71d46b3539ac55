"""`{% training_export_panel template %}`: the training-set export panel, for admins only, on
any page that shows a template (the template page). Renders nothing for anyone else."""

from typing import Any

from django import template as django_template

from apps.catalog.models import Template
from apps.training.forms import ExportForm
from apps.training.selectors import template_exports
from apps.training.views import EXPORT_PERM, running

register = django_template.Library()


@register.inclusion_tag("training/_export_panel.html", takes_context=True)
def training_export_panel(context: dict[str, Any], template: Template) -> dict[str, Any]:
    request = context["request"]
    if not request.user.has_perm(EXPORT_PERM):
        return {"show": False}
    exports = template_exports(template=template)
    return {
        "show": True,
        "template": template,
        "form": ExportForm(),
        "exports": exports,
        "running": running(exports),
    }
