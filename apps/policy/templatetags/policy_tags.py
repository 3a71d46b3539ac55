import json

from django import template

register = template.Library()


@register.filter
def pretty_json(value: object) -> str:
    """Indented JSON for the audit log's before/after (escaped by the template)."""
    if value is None:
        return "(none)"
    return json.dumps(value, indent=2, sort_keys=True)


@register.simple_tag
def changed_fields(before: object, after: object) -> str:
    """ "field: old → new" for each top-level key whose value differs ("created" for a new
    object), so an audit row says what changed without opening the snapshots."""
    if not isinstance(after, dict):
        return "deleted" if isinstance(before, dict) else ""
    if not isinstance(before, dict):
        return "created"
    parts = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            parts.append(f"{key}: {json.dumps(old, sort_keys=True)} → {json.dumps(new, sort_keys=True)}")
    return "; ".join(parts)
