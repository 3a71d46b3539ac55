from typing import Any

from django import forms

from apps.catalog.models import Template
from apps.policy.models import Tier
from apps.renders.pipeline.attempts import MAX_SEED
from apps.renders.pipeline.submit import parse_size
from apps.renders.schemas import MAX_SLOT_CHARS

SIZE_CHOICES = [
    ("", "Template default"),
    ("768x512", "768 × 512"),
    ("1024x1024", "1024 × 1024"),
    ("512x512", "512 × 512"),
    ("1344x768", "1344 × 768"),
]


class NewRenderForm(forms.Form):
    """Template, its slot texts (added per template), seed, size and tier."""

    template = forms.ModelChoiceField(queryset=Template.objects.filter(is_active=True), empty_label=None)
    seed = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_SEED, help_text="Leave empty for a random seed."
    )
    size = forms.ChoiceField(choices=SIZE_CHOICES, required=False)
    tier = forms.ModelChoiceField(
        queryset=Tier.objects.all(), required=False, empty_label="Route by the template's asset class"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        template = self.selected_template()
        for slot in template.slots if template else []:
            # The API's limit binds here too, whatever a template says (schemas.py).
            limit = min(int(slot.get("max_length", 80)), MAX_SLOT_CHARS)
            label = slot.get("label") or slot["name"].title()
            field = forms.CharField(
                label=label,
                max_length=limit,
                help_text=f"At most {limit} characters.",
                error_messages={
                    "max_length": f"{label} takes at most {limit} characters; this text has %(show_value)d. "
                    "Shorten it: nothing is cut for you."
                },
            )
            # No `maxlength` attribute: the browser would cut a typed or pasted title silently
            # ("BACK IN STOCK" → "BACK IN STOC"). A live counter shows the limit instead.
            field.widget.attrs.pop("maxlength", None)
            field.widget.attrs["data-max-length"] = str(limit)
            self.fields[f"text_{slot['name']}"] = field

    def selected_template(self) -> Template | None:
        key = self.data.get("template") if self.is_bound else self.initial.get("template")
        qs = self.fields["template"].queryset
        if isinstance(key, Template):
            return key
        # An unknown or retired template (a stale form) falls back to the first one, so the
        # page still offers fields while the template field reports the error.
        found = qs.filter(pk=key).first() if key and str(key).isdigit() else None
        return found or qs.first()

    def clean_size(self) -> tuple[int, int] | None:
        value = self.cleaned_data.get("size")
        if not value:
            return None
        try:
            return parse_size(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def slot_texts(self) -> dict[str, str]:
        return {name[5:]: value for name, value in self.cleaned_data.items() if name.startswith("text_")}

    def slot_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("text_")]


def texts_carry_over(*, typed: dict[str, str], slots: list[str]) -> tuple[dict[str, str], list[str]]:
    """Texts typed under one template, placed in another's `slots` (names, in order): a text
    keeps its slot when the new template has one of that name; otherwise it moves to the first
    slot still empty, and when none is left it is dropped. Returns ({slot: text}, notes saying
    each move and each drop, for the page)."""
    placed = {name: typed[name] for name in slots if typed.get(name, "").strip()}
    notes: list[str] = []
    for name, text in typed.items():
        if name in slots or not text.strip():
            continue
        empty = next((slot for slot in slots if slot not in placed), None)
        if empty is None:
            notes.append(f"“{text}” (typed in {name}) was dropped: the new template has no slot left for it.")
        else:
            placed[empty] = text
            notes.append(f"“{text}” (typed in {name}) was put in {empty}: the new template has no {name} slot.")
    return placed, notes


class JobFilterForm(forms.Form):
    status = forms.ChoiceField(required=False)
    template = forms.ModelChoiceField(queryset=Template.objects.all(), required=False, empty_label="Any template")
    tier = forms.ModelChoiceField(queryset=Tier.objects.all(), required=False, empty_label="Any tier")
    q = forms.CharField(
        required=False,
        label="Text contains",
        # The filter row has no visible labels: the box says what it searches.
        widget=forms.TextInput(attrs={"placeholder": "Text contains", "aria-label": "Text contains"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from apps.renders.models import JobStatus

        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", "Any status"), *JobStatus.choices]
