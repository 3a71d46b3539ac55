from django import forms

MAX_EXPIRY_DAYS = 3650


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What uses it, e.g. “CMS export” (shown in the list, never the key)."
    )
    expires_days = forms.IntegerField(
        label="Expires after (days)",
        required=False,
        min_value=1,
        max_value=MAX_EXPIRY_DAYS,
        help_text=f"1–{MAX_EXPIRY_DAYS} days. Empty: never expires.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Name the token so you can tell it from the others.")
        return name


class TokenRevokeForm(forms.Form):
    token = forms.IntegerField(min_value=1)
