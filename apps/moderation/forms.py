from django import forms

from apps.catalog.models import Template
from apps.engines.models import Engine
from apps.moderation.selectors import REASON_LABELS
from apps.renders.models import RenderJob
from apps.renders.schemas import MAX_SLOT_CHARS

STEPS = [
    ("moderator", "Same engine, my text and seed"),
    ("guidance", "Stronger guidance"),
    ("engine", "Another engine"),
    ("composite", "Composite the text (exact)"),
]


class QueueFilterForm(forms.Form):
    template = forms.ModelChoiceField(Template.objects.all(), required=False, empty_label="All templates")
    engine = forms.ModelChoiceField(
        Engine.objects.all(), required=False, empty_label="All engines", to_field_name="slug"
    )
    reason = forms.ChoiceField(choices=[("", "All reasons"), *REASON_LABELS.items()], required=False)


class ClaimNextForm(forms.Form):
    """ "Next" on the review page: the job being skipped, if any."""

    skip = forms.UUIDField(required=False)


class ApproveForm(forms.Form):
    note = forms.CharField(max_length=500, required=False)


class RejectForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"placeholder": "Why is it rejected?"}))


class RerenderForm(forms.Form):
    step = forms.ChoiceField(choices=STEPS, initial="composite")
    engine = forms.ModelChoiceField(
        Engine.objects.filter(enabled=True), required=False, empty_label="Job's engine", to_field_name="slug"
    )
    guidance = forms.IntegerField(min_value=0, max_value=3, initial=1, required=False)
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, required=False, help_text="Blank: a new random seed.")

    def __init__(self, *args: object, job: RenderJob, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.job = job
        slots = {s["name"]: s for s in (job.template.slots if job.template else [])}
        for name, text in job.texts.items():
            max_length = min(int(slots.get(name, {}).get("max_length") or MAX_SLOT_CHARS), MAX_SLOT_CHARS)
            self.fields[f"text_{name}"] = forms.CharField(
                label=f"Text: {slots.get(name, {}).get('label', name)}", initial=text, max_length=max_length
            )

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("step") == "engine" and not data.get("engine"):
            self.add_error("engine", "Pick the engine to use.")
        return data

    def texts(self) -> dict[str, str]:
        return {name: self.cleaned_data[f"text_{name}"].strip() for name in self.job.texts}
