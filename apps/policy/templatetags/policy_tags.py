import json

from django import template

register = template.Library()


@register.filter
def pretty_json(value: object) -> str:
    """Indented JSON for the audit log's before/after (escaped by the template)."""
    if value is None:
        return "(none)"
    return json.dumps(value, indent=2, sort_keys=True)
