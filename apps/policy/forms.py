import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.utils.text import slugify

from apps.engines.models import Engine
from apps.policy.models import LADDER_STEPS, AssetClass, Tier, engine_queues


class LadderField(forms.CharField):
    """The escalation ladder, one step per line: ``guidance``, ``engine: <engine slug>``,
    ``composite``, ``review`` (a JSON list is accepted too)."""

    widget = forms.Textarea(attrs={"rows": 5})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(
                f"engine: {item.get('engine', '')}" if item.get("step") == "engine" else str(item.get("step"))
                for item in value
                if isinstance(item, dict)
            )
        return value

    def to_python(self, value: Any) -> list[dict[str, str]]:
        text = (value or "").strip()
        if not text:
            return []
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise forms.ValidationError(f"Not valid JSON: {exc.msg}.") from exc
            if not isinstance(parsed, list):
                raise forms.ValidationError("The ladder must be a list of steps.")
            return parsed
        steps: list[dict[str, str]] = []
        for n, line in enumerate(text.splitlines(), start=1):
            name, _, arg = line.strip().partition(":")
            name, arg = name.strip().lower(), arg.strip()
            if not name:
                continue
            if name not in LADDER_STEPS:
                raise forms.ValidationError(f"Line {n}: {name!r} is not a step ({', '.join(LADDER_STEPS)}).")
            steps.append({"step": name, "engine": arg} if name == "engine" else {"step": name})
        return steps


class TeamBudgetsField(forms.CharField):
    """Optional per-team daily budgets on the tier, one per line: ``<team>: <USD>``."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return "\n".join(f"{team}: {amount}" for team, amount in value.items())
        return value

    def to_python(self, value: Any) -> dict[str, Decimal]:
        budgets: dict[str, Decimal] = {}
        for n, line in enumerate((value or "").splitlines(), start=1):
            if not line.strip():
                continue
            team, sep, amount = line.partition(":")
            team = team.strip()
            if not sep or not team or slugify(team) != team:
                raise forms.ValidationError(f"Line {n}: write it as team-slug: amount (got {line.strip()!r}).")
            try:
                money = Decimal(amount.strip())
            except InvalidOperation:
                raise forms.ValidationError(f"Line {n}: {amount.strip()!r} is not an amount in USD.") from None
            if not money.is_finite() or money < 0:
                raise forms.ValidationError(f"Line {n}: the {team} team's budget cannot be negative.")
            budgets[team] = money
        return budgets


class TierForm(forms.ModelForm):
    team_budgets = TeamBudgetsField(
        required=False,
        label="Team budgets (USD per day, optional)",
        help_text="One per line, team: amount. A team's job must fit its team budget and the tier's.",
    )
    escalation_ladder = LadderField(
        required=False,
        help_text="One step per line, tried in order after a failed verification: guidance, "
        "engine: <engine slug>, composite, review.",
    )

    class Meta:
        model = Tier
        fields = [
            "slug",
            "name",
            "preview_engine",
            "final_engine",
            "fallback_engine",
            "max_latency_ms",
            "daily_budget_usd",
            "max_attempts",
            "escalation_ladder",
            "verify_ocr",
            "auto_final",
            "final_with_preview",
            "hedge_previews",
            "allow_unpriced",
            "allow_simulation_fallback",
            "preview_queue",
            "final_queue",
            "quality",
            "degrade_to",
            "degrade_at_percent",
            "when_spent",
        ]
        labels = {
            "max_latency_ms": "Latency budget (ms, p95 target)",
            "daily_budget_usd": "Daily budget (USD)",
            "degrade_at_percent": "Degrade when the day is this % spent",
            "when_spent": "When the day's budget is spent",
            "verify_ocr": "Verify text with OCR",
            "hedge_previews": "Hedge slow previews on the fallback engine",
            "allow_unpriced": "Admit jobs on engines that have no price (their cost shows as unknown)",
            "allow_simulation_fallback": "Fall back from a vendor engine to a built-in simulation",
            "auto_final": "Render the final automatically after the preview",
            "final_with_preview": "Start the automatic final beside the preview (not after it)",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["slug"].disabled = True
            self.fields["degrade_to"].queryset = Tier.objects.exclude(pk=self.instance.pk)
            self.initial.setdefault(
                "team_budgets", {b.team: b.daily_budget_usd.normalize() for b in self.instance.team_budgets.all()}
            )
        engines = Engine.objects.filter(enabled=True)
        for name in ("preview_engine", "final_engine", "fallback_engine"):
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = engines
            field.label_from_instance = lambda engine: engine.label  # "(simulation)", "(benchmark engine)"
        self.fields["fallback_engine"].required = False
        choices = [("", "Default for the stage")] + [(q, q) for q in sorted(engine_queues())]
        for name in ("preview_queue", "final_queue"):
            self.fields[name] = forms.ChoiceField(choices=choices, required=False, label=self.fields[name].label)
        self.fields["daily_budget_usd"].widget.attrs["min"] = "0"


class AssetClassForm(forms.ModelForm):
    class Meta:
        model = AssetClass
        fields = ["slug", "name", "tier", "must_not_degrade"]
        labels = {"must_not_degrade": "Must not degrade"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["slug"].disabled = True
