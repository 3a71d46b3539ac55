from django import forms

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
