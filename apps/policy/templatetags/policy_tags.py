import json

from django import template

register = template.Library()


@register.filter
def pretty_json(value: object) -> str:
    """Indented JSON for the audit log's before/after (escaped by the template)."""
    if value is None:
        return "(none)"
    return json.dumps(value, indent=2, sort_keys=True)


def _differences(before: dict, after: dict, prefix: str = "") -> list[str]:
    """ "a.b: old → new" for each differing leaf; nested dicts (a policy import's tiers) are
    walked so the row names the field, not the whole snapshot."""
    parts = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            parts.extend(_differences(old, new, f"{prefix}{key}."))
        elif isinstance(new, dict) and old is None:
            parts.append(f"{prefix}{key}: created")
        elif isinstance(old, dict) and new is None:
            parts.append(f"{prefix}{key}: deleted")
        else:
            parts.append(f"{prefix}{key}: {json.dumps(old, sort_keys=True)} → {json.dumps(new, sort_keys=True)}")
    return parts


@register.simple_tag
def changed_fields(before: object, after: object) -> str:
    """ "field: old → new" for each value that differs, nested keys dotted
    ("tiers.preview.max_attempts: 2 → 4"; "created" for a new object), so an audit row says
    what changed without opening the snapshots."""
    if not isinstance(after, dict):
        return "deleted" if isinstance(before, dict) else ""
    if not isinstance(before, dict):
        return "created"
    return "; ".join(_differences(before, after))
