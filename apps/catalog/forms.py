"""Adapter editing and attaching an adapter to a template."""

from django import forms

from apps.catalog.models import STRENGTH_VALIDATORS, Adapter


class AdapterForm(forms.ModelForm):
    class Meta:
        model = Adapter
        fields = ["name", "slug", "base_model", "reference", "default_strength", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}
        help_texts = {"default_strength": "LoRA multiplier for model and clip, 0–2 (1 = as trained)."}


class TemplateAdapterForm(forms.Form):
    adapter = forms.ModelChoiceField(
        queryset=Adapter.objects.all(), required=False, empty_label="No adapter", help_text="The adapter to use."
    )
    strength = forms.FloatField(
        required=False, validators=STRENGTH_VALIDATORS, help_text="0–2; blank: the adapter's default strength."
    )
    note = forms.CharField(required=False, max_length=300, help_text="Why (shown in the history).")
