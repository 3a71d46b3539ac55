"""Admission control, cost estimates, budgets and the escalation ladder.

This module knows tiers, engines and money; it knows nothing of jobs. Callers pass a
`ref` (the job's public id) that reservations are keyed by.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from apps.engines.models import Engine
from apps.policy.models import AssetClass, Tier


class Outcome:
    ADMIT = "admitted"
    DEGRADE = "degraded"
    DEFER = "deferred"
    REFUSE = "refused"


@dataclass(frozen=True, kw_only=True)
class AdmissionDecision:
    outcome: str
    tier: Tier | None
    reason: str
    estimate_usd: Decimal = Decimal("0")
    defer_until: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class EscalationStep:
    step: str  # guidance | engine | composite | review
    reason: str
    guidance: int = 0
    engine: Engine | None = None
    new_seed: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def tier_for_asset_class(*, asset_class: str) -> Tier | None:
    found = AssetClass.objects.select_related("tier").filter(slug=asset_class).first()
    return found.tier if found else None


def engine_price(*, engine: Engine, width: int, height: int, quality: str = "") -> Decimal:
    """Price of one image: the price table's entry for the size (and quality), else price_usd."""
    entry = (engine.price_table or {}).get(f"{width}x{height}")
    if isinstance(entry, dict):
        entry = entry.get(quality) or next(iter(entry.values()), None)
    return Decimal(str(entry)) if entry is not None else engine.price_usd


def admission_decide(
    *, tier: Tier, engine: Engine | None, width: int, height: int, asset_class: str, ref: str
) -> AdmissionDecision:
    """Decide admit | degrade | defer | refuse before any money is spent."""
    final = engine or tier.final_engine
    estimate = engine_price(engine=final, width=width, height=height, quality=tier.quality)
    return AdmissionDecision(outcome=Outcome.ADMIT, tier=tier, reason="Admitted.", estimate_usd=estimate)


def budget_settle(*, ref: str, actual_usd: Decimal) -> None:
    """Settle a job's reservation against what its attempts actually cost."""


def budget_release(*, ref: str) -> None:
    """Release a job's reservation (it failed, was refused or cancelled)."""


def cost_record_outcome(*, template: str, engine: str, attempts: int, delivered: bool) -> None:
    """Record how many final attempts a finished job took, for the expected-attempts model."""


def escalation_next(
    *, tier: Tier, attempts_made: int, last_guidance: int, verdict_reasons: list[str]
) -> EscalationStep:
    """The next step after a failed verification: stronger guidance while attempts remain,
    then the moderation queue."""
    if attempts_made >= tier.max_attempts:
        return EscalationStep(
            step="review", reason=f"Still failing after {attempts_made} attempt(s); sent to moderation."
        )
    return EscalationStep(
        step="guidance",
        guidance=last_guidance + 1,
        new_seed=True,
        reason="Verification failed; re-rendering with stronger guidance and an explicit exact-text clause.",
    )
