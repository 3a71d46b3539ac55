from django import forms


class ExportForm(forms.Form):
    since = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Only jobs submitted on or after this day (blank: all).",
    )
    split = forms.FloatField(initial=0.9, min_value=0.0, max_value=1.0, help_text="Share in train, 0–1.")
    min_real = forms.IntegerField(
        initial=30,
        min_value=0,
        max_value=10_000,
        label="Synthetic below",
        help_text="With fewer approved renders than this, synthetic compositor pairs fill up to it (0: never).",
    )
