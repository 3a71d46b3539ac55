"""Reads: budget bars, cost previews, snapshots of tiers and classes (for the audit log and
the policy file)."""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from apps.engines.models import Engine
from apps.policy.models import AssetClass, BudgetLedger, PolicyChange, Tier
from apps.policy.services import budget_day, budget_timezone, cost_estimate


@dataclass(frozen=True, kw_only=True)
class BudgetRow:
    tier: Tier
    day: date
    limit_usd: Decimal
    spent_usd: Decimal
    reserved_usd: Decimal

    @property
    def available_usd(self) -> Decimal:
        return max(Decimal("0"), self.limit_usd - self.spent_usd - self.reserved_usd)

    def _pct(self, value: Decimal) -> Decimal:
        if self.limit_usd <= 0:
            return Decimal("100") if value > 0 else Decimal("0")
        return min(Decimal("100"), (value * 100 / self.limit_usd)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def spent_pct(self) -> Decimal:
        return self._pct(self.spent_usd)

    @property
    def reserved_pct(self) -> Decimal:
        return min(Decimal("100") - self.spent_pct, self._pct(self.reserved_usd))

    @property
    def used_pct(self) -> Decimal:
        return self.spent_pct + self.reserved_pct


def budget_rows(*, day: date | None = None) -> list[BudgetRow]:
    """Every tier's ledger for the day (a tier with no row yet shows its budget, nothing used)."""
    day = day or budget_day()
    ledgers = {row.tier_id: row for row in BudgetLedger.objects.filter(day=day)}
    rows = []
    for tier in Tier.objects.all():
        ledger = ledgers.get(tier.pk)
        rows.append(
            BudgetRow(
                tier=tier,
                day=day,
                limit_usd=ledger.limit_usd if ledger else tier.daily_budget_usd,
                spent_usd=ledger.spent_usd if ledger else Decimal("0"),
                reserved_usd=ledger.reserved_usd if ledger else Decimal("0"),
            )
        )
    return rows


def budget_report(*, day: date | None = None) -> dict[str, object]:
    """What `manage.py budget --json` prints."""
    day = day or budget_day()
    return {
        "day": day.isoformat(),
        "timezone": str(budget_timezone()),
        "tiers": {
            row.tier.slug: {
                "limit_usd": str(row.limit_usd),
                "spent_usd": str(row.spent_usd),
                "reserved_usd": str(row.reserved_usd),
                "available_usd": str(row.available_usd),
            }
            for row in budget_rows(day=day)
        },
    }


def cost_preview_sentence(*, asset_class: AssetClass, width: int = 1024, height: int = 1024, template: str = "") -> str:
    """ "At today's prices a production editorial image (1024×1024) costs about $0.10 with
    expected re-renders: 0.04 preview + 1 × 0.06 on Built-in Ultra (simulation)."."""
    tier = asset_class.tier
    estimate = cost_estimate(tier=tier, engine=None, width=width, height=height, template=template)
    usd = estimate.total_usd.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return (
        f"At today's prices a {tier.name.lower()} {asset_class.name.lower()} image ({width}×{height}) costs about "
        f"${usd} with expected re-renders: ${estimate.preview_usd.normalize()} preview + "
        f"{estimate.expected_attempts.normalize()} × ${estimate.final_usd.normalize()} on "
        f"{tier.final_engine.label}."
    )


def _slug(engine: Engine | None) -> str | None:
    return engine.slug if engine else None


def tier_snapshot(tier: Tier) -> dict[str, object]:
    """A tier as plain JSON (engines by slug, money as strings): the audit log's before/after
    and the policy file's tier entry."""
    return {
        "name": tier.name,
        "preview_engine": _slug(tier.preview_engine),
        "final_engine": _slug(tier.final_engine),
        "fallback_engine": _slug(tier.fallback_engine),
        "max_latency_ms": tier.max_latency_ms,
        "daily_budget_usd": str(tier.daily_budget_usd.normalize()),
        "max_attempts": tier.max_attempts,
        "escalation_ladder": tier.escalation_ladder,
        "verify_ocr": tier.verify_ocr,
        "auto_final": tier.auto_final,
        "hedge_previews": tier.hedge_previews,
        "preview_queue": tier.preview_queue,
        "final_queue": tier.final_queue,
        "quality": tier.quality,
        "degrade_to": tier.degrade_to.slug if tier.degrade_to else None,
        "degrade_at_percent": tier.degrade_at_percent,
        "when_spent": tier.when_spent,
    }


def asset_class_snapshot(klass: AssetClass) -> dict[str, object]:
    return {"name": klass.name, "tier": klass.tier.slug, "must_not_degrade": klass.must_not_degrade}


def policy_changes(*, limit: int = 200) -> list[PolicyChange]:
    return list(PolicyChange.objects.select_related("actor")[:limit])
