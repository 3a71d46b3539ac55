"""Reads: budget bars, cost previews, snapshots of tiers and classes (for the audit log and
the policy file)."""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from apps.core.models import ConfigChange
from apps.engines.models import Engine
from apps.policy.models import AssetClass, BudgetLedger, PolicyChange, TeamBudget, Tier
from apps.policy.services import budget_day, budget_timezone, cost_estimate


def plain(value: Decimal) -> str:
    """A Decimal without trailing zeros or exponent: 200.0000 → "200", 0.0400 → "0.04"."""
    return format(value.normalize(), "f")


@dataclass(frozen=True, kw_only=True)
class BudgetRow:
    tier: Tier
    team: str = ""
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
    """Every tier's ledger for the day, each followed by its teams' rows (a budget with no
    row yet shows its limit and nothing used)."""
    day = day or budget_day()
    ledgers = {(row.tier_id, row.team): row for row in BudgetLedger.objects.filter(day=day)}
    teams: dict[int, list[TeamBudget]] = {}
    for budget in TeamBudget.objects.all():
        teams.setdefault(budget.tier_id, []).append(budget)
    rows = []
    tiers = Tier.objects.select_related("preview_engine", "final_engine", "fallback_engine", "degrade_to")
    for tier in tiers:
        limits = [("", tier.daily_budget_usd)] + [(b.team, b.daily_budget_usd) for b in teams.get(tier.pk, [])]
        for team, limit in limits:
            ledger = ledgers.get((tier.pk, team))
            rows.append(
                BudgetRow(
                    tier=tier,
                    team=team,
                    day=day,
                    limit_usd=ledger.limit_usd if ledger else limit,
                    spent_usd=ledger.spent_usd if ledger else Decimal("0"),
                    reserved_usd=ledger.reserved_usd if ledger else Decimal("0"),
                )
            )
    return rows


def _money_row(row: BudgetRow) -> dict[str, str]:
    return {
        "limit_usd": str(row.limit_usd),
        "spent_usd": str(row.spent_usd),
        "reserved_usd": str(row.reserved_usd),
        "available_usd": str(row.available_usd),
    }


def budget_report(*, day: date | None = None) -> dict[str, object]:
    """What `manage.py budget --json` prints: per tier today's limit, spent, reserved,
    available (and "teams" with the same for each team budget on the tier)."""
    day = day or budget_day()
    tiers: dict[str, dict[str, object]] = {}
    for row in budget_rows(day=day):
        if not row.team:
            tiers[row.tier.slug] = _money_row(row)
        else:
            tiers[row.tier.slug].setdefault("teams", {})[row.team] = _money_row(row)  # type: ignore[index]
    return {"day": day.isoformat(), "timezone": str(budget_timezone()), "tiers": tiers}


def class_sizes() -> dict[str, list[tuple[int, int]]]:
    """{asset class slug: [(width, height) px, …]}: the distinct sizes of the active templates
    routed to each class, in order. One query. Catalog is a sibling layer that policy may not
    import, so the model is looked up by name (read-only, as `verify` does)."""
    from django.apps import apps

    template = apps.get_model("catalog", "Template")
    sizes: dict[str, list[tuple[int, int]]] = {}
    rows = template.objects.filter(is_active=True).order_by("asset_class", "width", "height")
    for slug, width, height in rows.values_list("asset_class", "width", "height").distinct():
        sizes.setdefault(slug, []).append((width, height))
    return sizes


def cost_preview_sentence(*, asset_class: AssetClass, width: int = 1024, height: int = 1024, template: str = "") -> str:
    """ "At today's prices one Editorial image on the Production tier (768×512) costs about $0.10
    with expected re-renders: $0.04 preview + 1 × $0.06 on Built-in Ultra (simulation)." (the
    class and tier names as the admin wrote them, so "Preview" on "Preview" does not read
    "a preview preview image")."""
    tier = asset_class.tier
    estimate = cost_estimate(tier=tier, engine=None, width=width, height=height, template=template)
    usd = estimate.total_usd.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return (
        f"At today's prices one {asset_class.name} image on the {tier.name} tier ({width}×{height}) costs about "
        f"${usd} with expected re-renders: ${plain(estimate.preview_usd)} preview + "
        f"{plain(estimate.expected_attempts)} × ${plain(estimate.final_usd)} on "
        f"{tier.final_engine.label}."
    )


def cost_preview_sentences(*, asset_class: AssetClass, sizes: list[tuple[int, int]]) -> list[str]:
    """One sentence per template size of the class; with no template routed to it, one at
    1024×1024 saying so (nothing else says what size it would be)."""
    if not sizes:
        return [
            cost_preview_sentence(asset_class=asset_class) + " No active template uses this class: priced at 1024×1024."
        ]
    return [cost_preview_sentence(asset_class=asset_class, width=w, height=h) for w, h in sizes]


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
        "daily_budget_usd": plain(tier.daily_budget_usd),
        "max_attempts": tier.max_attempts,
        "escalation_ladder": tier.escalation_ladder,
        "verify_ocr": tier.verify_ocr,
        "auto_final": tier.auto_final,
        "final_with_preview": tier.final_with_preview,
        "hedge_previews": tier.hedge_previews,
        "allow_unpriced": tier.allow_unpriced,
        "allow_simulation_fallback": tier.allow_simulation_fallback,
        "preview_queue": tier.preview_queue,
        "final_queue": tier.final_queue,
        "quality": tier.quality,
        "degrade_to": tier.degrade_to.slug if tier.degrade_to else None,
        "degrade_at_percent": tier.degrade_at_percent,
        "when_spent": tier.when_spent,
        "team_budgets": {b.team: plain(b.daily_budget_usd) for b in tier.team_budgets.all()},
    }


def asset_class_snapshot(klass: AssetClass) -> dict[str, object]:
    return {"name": klass.name, "tier": klass.tier.slug, "must_not_degrade": klass.must_not_degrade}


def policy_changes(*, limit: int = 200) -> list[PolicyChange]:
    return list(PolicyChange.objects.select_related("actor")[:limit])


def audit_log(*, limit: int = 200) -> list[PolicyChange | ConfigChange]:
    """The audit page: policy changes (tiers, routing, imports) and configuration changes
    (engines, templates) together, newest first. Both have actor_name, kind, object_slug,
    before, after and created_at."""
    rows: list[PolicyChange | ConfigChange] = [*PolicyChange.objects.all()[:limit], *ConfigChange.objects.all()[:limit]]
    rows.sort(key=lambda row: row.created_at, reverse=True)
    return rows[:limit]
