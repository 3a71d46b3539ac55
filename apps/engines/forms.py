"""The engine editor: every field an admin may set. The key itself is never a field."""

import json
from typing import Any

from django import forms

from apps.engines.models import Engine
from apps.engines.validation import FIELD_RANGES, number_text, params_ranges_text, range_text


class PrettyJSONField(forms.JSONField):
    """A JSON object in a textarea; empty (None or {}) shows as an empty box, never `null`,
    and an empty box saves as {} (EngineForm.clean_price_table / clean_params)."""

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        if value is None or value == {}:
            return ""
        return json.dumps(value, indent=2, ensure_ascii=False)


class EngineForm(forms.ModelForm):
    """Field checks (URL allowlist, key-variable name, price table, params) live on the model
    (validators and Engine.clean), so every writer of engines gets the same messages."""

    price_table = PrettyJSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text='Price by size and quality, e.g. {"1024x1024": {"standard": "0.04", "hd": "0.08"}}, '
        '"*" for any size: {"*": {"TURBO": "0.03"}}. With a table, a size or quality it does not list has no '
        "known price (flagged, never $0); without one, every image costs the base price.",
    )
    params = PrettyJSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text='Adapter parameters, e.g. {"api": "vertex"}, {"style": "natural"}, '
        '{"sizes": ["1024x1024"]}, a ComfyUI {"workflow": {…}}, {"backoff_base_s": 0.5}. '
        f"Numeric parameters and their ranges: {params_ranges_text()}.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # State every numeric field's range on the form, and let the browser check it too.
        for name, (low, high) in FIELD_RANGES.items():
            field = self.fields[name]
            field.widget.attrs.update({"min": number_text(low), "max": number_text(high)})
            rule = f"Range {range_text(low, high)}."
            field.help_text = f"{field.help_text} {rule}".strip() if field.help_text else rule

    class Meta:
        model = Engine
        fields = [
            "slug",
            "name",
            "adapter",
            "model_id",
            "base_url",
            "api_key_env",
            "price_usd",
            "price_table",
            "connect_timeout_s",
            "read_timeout_s",
            "deadline_s",
            "max_retries",
            "concurrency_limit",
            "params",
            "enabled",
            "retired_on",
            "lifecycle_note",
        ]
        labels = {
            "model_id": "Model id",
            "base_url": "Base URL",
            "api_key_env": "API key environment variable",
            "price_usd": "Base price per image (USD)",
            "connect_timeout_s": "Connect timeout (s)",
            "read_timeout_s": "Read timeout (s)",
            "deadline_s": "Overall deadline per call (s)",
            "concurrency_limit": "Concurrency limit (all workers; 0 = none)",
            "retired_on": "Retired by the vendor on",
        }
        help_texts = {
            "base_url": "Checked against RENDERHUB_ENGINE_HOST_ALLOWLIST. Empty: the vendor's default.",
            "api_key_env": "The NAME of the environment variable holding the key (e.g. OPENAI_API_KEY), never the key.",
            "model_id": "Configuration: vendors retire models (DALL·E 3, gpt-image-1, Imagen 4).",
        }

    def clean_price_table(self) -> Any:
        return self.cleaned_data.get("price_table") or {}

    def clean_params(self) -> Any:
        return self.cleaned_data.get("params") or {}
