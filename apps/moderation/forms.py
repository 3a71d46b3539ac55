import datetime

from django import forms
from django.db.models import Q, QuerySet

from apps.catalog.models import Template
from apps.engines.models import Engine
from apps.moderation.selectors import REASON_LABELS
from apps.renders.models import JobStatus, RenderAttempt, RenderJob
from apps.renders.schemas import MAX_SLOT_CHARS

STEPS = [
    ("moderator", "Same engine, my text and seed"),
    ("guidance", "Stronger guidance"),
    ("engine", "Another engine"),
    ("composite", "Composite the text (exact)"),
]


class EngineChoiceField(forms.ModelChoiceField):
    """Engines by their label: "Built-in Ultra (simulation)", never a bare name for a simulation."""

    def label_from_instance(self, obj: Engine) -> str:  # type: ignore[override]
        return obj.label


def engines_that_can_appear() -> QuerySet[Engine]:
    """Engines a job in review can show: usable ones (enabled, not retired) and any engine an
    attempt of a job waiting in review used (it may since have been disabled or retired)."""
    today = datetime.date.today()
    in_queue = RenderAttempt.objects.filter(job__status=JobStatus.NEEDS_REVIEW).values("engine_id")
    usable = Q(enabled=True) & (Q(retired_on__isnull=True) | Q(retired_on__gt=today))
    return Engine.objects.filter(usable | Q(pk__in=in_queue)).order_by("name")


class QueueFilterForm(forms.Form):
    template = forms.ModelChoiceField(Template.objects.all(), required=False, empty_label="All templates")
    engine = EngineChoiceField(Engine.objects.none(), required=False, empty_label="All engines", to_field_name="slug")
    reason = forms.ChoiceField(choices=[("", "All reasons"), *REASON_LABELS.items()], required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["engine"].queryset = engines_that_can_appear()  # type: ignore[attr-defined]


class ClaimNextForm(forms.Form):
    """ "Next" on the review page: the job being skipped, if any."""

    skip = forms.UUIDField(required=False)


class ApproveForm(forms.Form):
    note = forms.CharField(max_length=500, required=False)


class BulkDecisionForm(forms.Form):
    job = forms.TypedMultipleChoiceField(choices=[], coerce=str)  # public ids, checked below
    action = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = forms.CharField(max_length=500, required=False, strip=True)

    MAX_JOBS = 100

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # Any submitted value is a candidate; clean_job keeps only well-formed ids.
        values = self.data.getlist("job") if hasattr(self.data, "getlist") else []
        self.fields["job"].choices = [(v, v) for v in values]

    def clean_job(self) -> list[str]:
        import uuid

        ids = []
        for value in self.cleaned_data["job"]:
            try:
                ids.append(str(uuid.UUID(value)))
            except ValueError:
                continue
        if not ids:
            raise forms.ValidationError("Select at least one render.")
        if len(ids) > self.MAX_JOBS:
            raise forms.ValidationError(f"At most {self.MAX_JOBS} renders at once.")
        return ids

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("action") == "reject" and not data.get("reason"):
            raise forms.ValidationError("A rejection needs a reason: type one for all selected renders.")
        return data


class RejectForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"placeholder": "Why is it rejected?"}))


class RerenderForm(forms.Form):
    step = forms.ChoiceField(choices=STEPS, initial="composite")
    engine = EngineChoiceField(
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


class UndoForm(forms.Form):
    """The undo bar: the decisions (their ids) that the last approve or reject made."""

    MAX_DECISIONS = 100

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.decision_ids: list[int] = []

    def clean(self) -> dict:
        data = super().clean() or {}
        values = self.data.getlist("decision") if hasattr(self.data, "getlist") else []
        ids = [int(v) for v in values if str(v).isdigit()]
        if not ids:
            raise forms.ValidationError("Nothing to undo.")
        self.decision_ids = ids[: self.MAX_DECISIONS]
        return data
