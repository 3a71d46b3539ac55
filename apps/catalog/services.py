"""Prompt resolution (a template plus the editor's texts give the prompt sent to an engine) and
the template's adapter, changed only here so its history is complete."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.catalog.models import Adapter, Template, TemplateAdapterChange
from apps.core.audit import config_change_record, model_snapshot


class TemplateTextError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class ResolvedPrompt:
    prompt: str
    texts: dict[str, str]
    regions: dict[str, list[float]]


def template_resolve(*, template: Template, texts: dict[str, str]) -> ResolvedPrompt:
    """Check each slot's text and fill the placeholders. Texts are quoted in the prompt,
    which is how image models are asked to write exact text."""
    errors: dict[str, str] = {}
    clean: dict[str, str] = {}
    for slot in template.slots:
        name = slot["name"]
        value = " ".join(str(texts.get(name, "")).split())
        if not value:
            errors[name] = "This text is required."
        elif len(value) > int(slot.get("max_length", 80)):
            label = slot.get("label") or name.title()
            errors[name] = (
                f"{label} takes at most {slot.get('max_length', 80)} characters; this text has {len(value)}. "
                "Shorten it: nothing is cut for you."
            )
        elif '"' in value:
            errors[name] = "Double quotes cannot be rendered; use “curly” quotes."
        clean[name] = value
    unknown = set(texts) - set(template.slot_names)
    if unknown:
        errors["texts"] = f"Unknown slot(s): {', '.join(sorted(unknown))}."
    if errors:
        raise TemplateTextError(errors)
    prompt = template.prompt_template.format_map({k: f'"{v}"' for k, v in clean.items()})
    regions = {slot["name"]: slot["region"] for slot in template.slots if slot.get("region")}
    return ResolvedPrompt(prompt=prompt, texts=clean, regions=regions)


def template_set_adapter(
    *,
    template: Template,
    adapter: Adapter | None,
    strength: float | None,
    by: AbstractBaseUser | None,
    note: str = "",
) -> TemplateAdapterChange | None:
    """Make `adapter` (None = none) at `strength` (None = the adapter's default) the template's
    active adapter and write a history row with who and when.

    Returns the new history row, or None when nothing changed (no row is written then).
    Attempts already queued keep what they recorded; the next attempt uses the new adapter."""
    with transaction.atomic():
        locked = Template.objects.select_for_update().get(pk=template.pk)
        if adapter is None:
            strength = None
        if locked.adapter_id == (adapter.pk if adapter else None) and locked.adapter_strength == strength:
            return None
        locked.adapter, locked.adapter_strength = adapter, strength
        locked.save(update_fields=["adapter", "adapter_strength"])
        template.adapter, template.adapter_strength = adapter, strength
        return TemplateAdapterChange.objects.create(
            template=locked, adapter=adapter, strength=strength, changed_by=by, changed_at=timezone.now(), note=note
        )


def template_snapshot(template: Template) -> dict[str, Any]:
    """The template as JSON for the audit log."""
    return model_snapshot(template, exclude=("id",))


def template_save(*, template: Template, before: dict[str, Any] | None, by: AbstractBaseUser | None) -> Template:
    """Save a new or edited template and write its audit row (before/after) in the same
    transaction. `before` is `template_snapshot` taken before the edit (None: new)."""
    with transaction.atomic():
        template.save()
        template.refresh_from_db()  # snapshot what was stored, as `before` was
        config_change_record(
            kind="template", slug=template.slug, before=before, after=template_snapshot(template), by=by
        )
    return template
