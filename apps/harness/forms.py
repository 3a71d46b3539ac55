from typing import Any

from django import forms

from apps.catalog.models import Template
from apps.engines.models import Engine
from apps.policy.models import Tier
from apps.renders.pipeline.submit import parse_size


class ComparisonForm(forms.Form):
    name = forms.CharField(max_length=120)
    engines = forms.ModelMultipleChoiceField(
        queryset=Engine.objects.filter(enabled=True), widget=forms.CheckboxSelectMultiple
    )
    prompts = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), help_text="One prompt per line; quote the text that must appear."
    )
    seeds = forms.CharField(initial="1, 2", help_text="Comma-separated integers.")
    size = forms.CharField(initial="768x512")
    tier = forms.ModelChoiceField(
        queryset=Tier.objects.all(),
        empty_label=None,
        help_text="Budget and verification settings the renders run under.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        engines = self.fields["engines"]
        assert isinstance(engines, forms.ModelMultipleChoiceField)
        engines.label_from_instance = lambda engine: engine.label  # "(simulation)", "(benchmark engine)"

    def clean_seeds(self) -> list[int]:
        try:
            seeds = [int(s) for s in self.cleaned_data["seeds"].replace(" ", "").split(",") if s]
        except ValueError:
            raise forms.ValidationError("Seeds must be integers separated by commas.") from None
        if not seeds or any(not 0 <= s < 2**31 for s in seeds):
            raise forms.ValidationError("Give at least one seed between 0 and 2147483647.")
        return seeds

    def clean_size(self) -> tuple[int, int]:
        try:
            return parse_size(self.cleaned_data["size"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_prompts(self) -> list[str]:
        prompts = [line.strip() for line in self.cleaned_data["prompts"].splitlines() if line.strip()]
        if not prompts:
            raise forms.ValidationError("Give at least one prompt.")
        return prompts


class AdapterTrialForm(forms.Form):
    """The before/after preset: one text field per template slot (built from the template)."""

    engine = forms.ModelChoiceField(queryset=Engine.objects.none(), empty_label=None)
    seeds = forms.CharField(initial="1, 2, 3, 4, 5, 6, 7, 8", help_text="Comma-separated integers; two renders each.")
    tier = forms.ModelChoiceField(
        queryset=Tier.objects.all(), empty_label=None, help_text="Budget and verification settings for the renders."
    )

    def __init__(self, *args: Any, template: Template, engines: list[Engine], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.template = template
        engine_field = self.fields["engine"]
        assert isinstance(engine_field, forms.ModelChoiceField)
        engine_field.queryset = Engine.objects.filter(pk__in=[e.pk for e in engines])
        engine_field.label_from_instance = lambda engine: engine.label  # "(simulation)" shows
        for slot in template.slots:
            self.fields[f"text_{slot['name']}"] = forms.CharField(
                label=slot.get("label") or slot["name"].title(), max_length=int(slot.get("max_length", 80))
            )

    clean_seeds = ComparisonForm.clean_seeds

    def texts(self) -> dict[str, str]:
        return {slot["name"]: self.cleaned_data[f"text_{slot['name']}"] for slot in self.template.slots}
