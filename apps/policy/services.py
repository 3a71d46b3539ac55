"""Admission control, cost estimates, budgets and the escalation ladder.

This module knows tiers, engines and money; it knows nothing of jobs. Callers pass a
`ref` (the job's public id) that reservations are keyed by.

Money moves only through `BudgetLedger` rows, one per (tier, budget day), and only by
single conditional UPDATEs under PostgreSQL's READ COMMITTED (research/reliability.md §2):

- reserve: ``reserved += est WHERE spent + reserved + est <= limit`` (0 rows → not admitted);
- extend (an escalation step or a hedge needs more): the same conditional update;
- settle / release: the job's Reservation leaves HELD by a conditional update (so it happens
  exactly once), then ``reserved -= amount, spent += actual`` on its ledger row.

Because every attempt beyond the first final one reserves its price before it starts
(`escalation_next`, `budget_extend`), what a job spends never exceeds what it holds, and so
``spent + reserved <= limit`` holds at every commit. A moderator's forced re-render and a
dearer fallback engine hold their price first too. Each billed call is booked as spent the
moment its cost is known (`budget_spend`), so ``spent`` is the sum of the billed attempts; a
call that bills more than its hold is booked all the same, and a tier left over its limit
(or whose limit an admin lowered below what is spent) refuses new work.

The budget day is the calendar day in ``settings.RENDERHUB_BUDGET_TIMEZONE`` (default UTC):
budgets reset at midnight there.
"""

import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Avg, F
from django.db.models.functions import Round
from django.utils import timezone

from apps.core.hotsql import row_get, row_insert_guarded, rows_insert
from apps.core.prepared import execute_prepared
from apps.core.ttlcache import TTLCache
from apps.engines import pricing
from apps.engines.models import AdapterKind, Engine
from apps.engines.types import Billing
from apps.policy.models import (
    AssetClass,
    BudgetLedger,
    CostOutcome,
    Reservation,
    ReservationState,
    TeamBudget,
    Tier,
    WhenSpent,
)

CENT = Decimal("0.0001")
RECENT_OUTCOMES = 50  # the expected-attempts model looks at this many recent jobs
LATENCY_DEFER_FACTOR = 4  # defer when the queue's predicted wait passes this many latency budgets
DEFAULT_LADDER: list[dict[str, str]] = [{"step": "guidance"}, {"step": "review"}]


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


@dataclass(frozen=True, kw_only=True)
class CostEstimate:
    preview_usd: Decimal
    final_usd: Decimal  # one final attempt
    expected_attempts: Decimal
    total_usd: Decimal


# --- Routing and prices ------------------------------------------------------------------


# Routing rows read by every submission, per process for POLICY_CACHE_S (apps.core.ttlcache):
# a save or delete of a tier, asset class, engine or team budget in this process clears them
# at once (PolicyConfig.ready); other processes see an edit within POLICY_CACHE_S. The rows
# are shared by the requests of this process: callers must not modify them.
POLICY_CACHE_S = 5.0
_asset_classes: TTLCache[str, AssetClass | None] = TTLCache(ttl_s=POLICY_CACHE_S)
_tier_queues: TTLCache[str, list[Tier]] = TTLCache(ttl_s=POLICY_CACHE_S)
_teams: TTLCache[int, str] = TTLCache(ttl_s=POLICY_CACHE_S)
_expected: TTLCache[tuple[str, str], Decimal] = TTLCache(ttl_s=POLICY_CACHE_S)
# (tier, team, day) whose ledger row this process has seen exist: no INSERT … ON CONFLICT again.
_ledger_rows: TTLCache[tuple[int, str, date], bool] = TTLCache(ttl_s=3600)


def policy_cache_clear(*args: object, **kwargs: object) -> None:
    """Signal receiver: a tier, asset class, engine, team budget or group changed here."""
    for cache in (_asset_classes, _tier_queues, _teams, _ledger_rows, _expected):
        cache.clear()


def asset_class_get(*, slug: str) -> AssetClass | None:
    """The asset class with its tier and the tier's engines (cached per process), or None."""
    return _asset_classes.get_or_load(
        slug,
        lambda: (
            AssetClass.objects.select_related(
                "tier__preview_engine", "tier__final_engine", "tier__fallback_engine", "tier__degrade_to"
            )
            .filter(slug=slug)
            .first()
        ),
    )


def tier_for_asset_class(*, asset_class: str) -> Tier | None:
    found = asset_class_get(slug=asset_class)
    return found.tier if found else None


def tier_queues() -> list[Tier]:
    """Every tier's pk, preview_queue and final_queue (cached per process)."""
    return _tier_queues.get_or_load("all", lambda: list(Tier.objects.only("pk", "preview_queue", "final_queue")))


def engine_price(*, engine: Engine, width: int, height: int, quality: str = "") -> Decimal:
    """Expected price of one image (for holds and estimates): the price table's entry for the
    size and quality, else price_usd. A blank tier quality is the adapter's default quality,
    priced as such. What an attempt is booked at comes from `pricing.price_attempt`."""
    billing = Billing(model=engine.model_id, size=f"{width}x{height}", quality=quality or default_quality(engine))
    price, _ = pricing.table_price(engine, billing)
    return price if price is not None else engine.price_usd


def default_quality(engine: Engine) -> str:
    """The quality an adapter sends when the tier leaves it blank (apps/engines/adapters)."""
    if engine.params.get("quality"):
        return str(engine.params["quality"])
    if engine.adapter == AdapterKind.OPENAI:
        return "standard" if engine.model_id.startswith("dall-e") else "medium"
    return ""


def engine_is_priced(engine: Engine) -> bool:
    """Whether the engine has any price at all (`pricing.pricing_summary`)."""
    return not pricing.pricing_summary(engine)[1]


def expected_attempts(*, template: str, engine: str) -> Decimal:
    """Mean final attempts of the last RECENT_OUTCOMES finished jobs for this template and
    engine (else for the engine alone); 1.0 with no history. Indexed reads of at most
    RECENT_OUTCOMES rows (however long the history), kept per process for POLICY_CACHE_S."""
    return _expected.get_or_load((template, engine), lambda: _expected_load(template=template, engine=engine))


def _expected_load(*, template: str, engine: str) -> Decimal:
    for filters in ({"engine": engine, "template": template}, {"engine": engine}):
        recent = CostOutcome.objects.filter(**filters).order_by("-created_at").values("pk")[:RECENT_OUTCOMES]
        mean = CostOutcome.objects.filter(pk__in=recent).aggregate(m=Avg("attempts"))["m"]
        if mean is not None:
            return max(Decimal("1"), Decimal(str(mean)).quantize(Decimal("0.01")))
    return Decimal("1")


def cost_estimate(
    *, tier: Tier, engine: Engine | None, width: int, height: int, template: str = "", with_preview: bool = True
) -> CostEstimate:
    """Preview (if any) + expected final attempts × the final engine's price for the size.

    A preview-only tier is estimated with its final too: the editor may ask for it, and the
    money for it must be held before it is spent.
    """
    final = engine or tier.final_engine
    final_price = engine_price(engine=final, width=width, height=height, quality=tier.quality)
    preview_price = Decimal("0")
    if with_preview:
        preview_price = engine_price(
            engine=engine or tier.preview_engine, width=width, height=height, quality=tier.quality
        )
    attempts = expected_attempts(template=template, engine=final.slug)
    total = (preview_price + attempts * final_price).quantize(CENT, rounding=ROUND_HALF_UP)
    return CostEstimate(preview_usd=preview_price, final_usd=final_price, expected_attempts=attempts, total_usd=total)


def cost_record_outcome(*, template: str, engine: str, attempts: int, delivered: bool, ref: str = "") -> None:
    """Record how many final attempts a finished job took, for the expected-attempts model
    (`ref`: the job's public id, so `cost_outcome_forget` can take it back)."""
    if attempts < 1 or not engine:
        return
    # A plain INSERT (apps.core.hotsql): one per finished job.
    rows_insert(
        [CostOutcome(template=template[:50], engine=engine[:50], attempts=attempts, delivered=delivered, ref=ref[:64])]
    )
    _expected.clear()  # this process learns at once; others within POLICY_CACHE_S


def cost_outcome_forget(*, ref: str) -> int:
    """Take back the outcomes recorded for job `ref` (its decision was undone and it waits in
    review again: it has not finished). Returns how many rows were deleted."""
    if not ref:
        return 0
    deleted, _ = CostOutcome.objects.filter(ref=ref).delete()
    return deleted


def fallback_for(*, tier: Tier, failed: Engine, pinned: bool = False) -> tuple[Engine | None, str]:
    """The engine that may stand in for `failed` on `tier` (maybe the same engine: a hedge
    may run on it), or (None, why not).

    Never for a job pinned to one engine (the caller asked for that engine's picture); never
    from a vendor engine to a built-in simulation unless the tier allows it; never to an
    engine with no price unless the tier allows unpriced engines."""
    fallback = tier.fallback_engine
    if fallback is None:
        return None, ""
    if pinned and fallback.pk != failed.pk:
        return None, f"the job asked for {failed.name} itself, so no other engine stands in"
    if fallback.simulated and not failed.simulated and not tier.allow_simulation_fallback:
        return None, (
            f"{tier.name} does not fall back from the vendor engine {failed.name} to the simulation {fallback.name}"
        )
    if not engine_is_priced(fallback) and not tier.allow_unpriced:
        return None, f"the fallback engine {fallback.name} has no price and {tier.name} does not allow unpriced engines"
    return fallback, ""


# --- Budget days and ledger rows ----------------------------------------------------------


def budget_timezone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(getattr(settings, "RENDERHUB_BUDGET_TIMEZONE", "UTC"))


def budget_day(*, now: datetime | None = None) -> date:
    """Today's budget day (the calendar day in the budget time zone)."""
    return (now or timezone.now()).astimezone(budget_timezone()).date()


def budget_reset_at(*, now: datetime | None = None) -> datetime:
    """When the current budget day ends (midnight in the budget time zone)."""
    tz = budget_timezone()
    local = (now or timezone.now()).astimezone(tz)
    return datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=tz)


def ledger_for(*, tier: Tier, day: date | None = None, team: str = "") -> BudgetLedger:
    """The tier's ledger row for the day (or a team's row on that tier, whose limit is the
    TeamBudget), created race-free (INSERT … ON CONFLICT DO NOTHING) with today's limit.
    One SELECT once this process has seen the row exist."""
    day = day or budget_day()
    key = (tier.pk, team, day)
    if _ledger_rows.peek(key):
        row = row_get(BudgetLedger, tier=tier.pk, team=team, day=day)
        if row is not None:
            return row
    limit = TeamBudget.objects.get(tier=tier, team=team).daily_budget_usd if team else tier.daily_budget_usd
    BudgetLedger.objects.bulk_create(
        [BudgetLedger(tier=tier, team=team, day=day, limit_usd=limit)], ignore_conflicts=True
    )
    row = BudgetLedger.objects.get(tier=tier, team=team, day=day)
    _ledger_rows.put(key, True)
    return row


def ledger_sync_limit(*, tier: Tier) -> None:
    """Keep today's (and later) ledger rows in step with an edited tier or team budget."""
    today = budget_day()
    BudgetLedger.objects.filter(tier=tier, team="", day__gte=today).update(limit_usd=tier.daily_budget_usd)
    for budget in TeamBudget.objects.filter(tier=tier):
        BudgetLedger.objects.filter(tier=tier, team=budget.team, day__gte=today).update(
            limit_usd=budget.daily_budget_usd
        )


def team_has_budget(*, tier: Tier, team: str) -> bool:
    return bool(team) and TeamBudget.objects.filter(tier=tier, team=team).exists()


def team_for_user(*, user: object) -> str:
    """A user's team: the first (by name) of their groups that is not a role, else ""."""
    from django.utils.text import slugify

    from apps.accounts.roles import ROLE_PERMISSIONS

    groups = getattr(user, "groups", None)
    if groups is None:
        return ""

    def load() -> str:
        names = sorted(n for n in groups.values_list("name", flat=True) if n not in ROLE_PERMISSIONS)
        return slugify(names[0]) if names else ""

    pk = getattr(user, "pk", None)
    return load() if pk is None else _teams.get_or_load(pk, load)


def _money(expression: Any) -> Round:
    """Ledger arithmetic rounded to the columns' 4 decimals. SQLite (the embedded default) does
    arithmetic on DECIMAL columns in binary floating point: holding and releasing $0.04, $0.06
    and $0.08 in some orders leaves -2.8e-17 `reserved`, which CHECK (reserved_usd >= 0)
    refuses, and every later settle of that tier's jobs failed with it. PostgreSQL's numeric
    is exact; rounding there changes nothing."""
    return Round(expression, 4)


_LEDGER_ADD_SQL = (
    f"UPDATE {BudgetLedger._meta.db_table} SET reserved_usd = ROUND(reserved_usd + %s, 4), updated_at = %s"
    " WHERE id = %s AND limit_usd >= spent_usd + reserved_usd + %s"
)


def _ledger_add_params(ledger_id: int, amount: Decimal) -> list[object]:
    return [amount, timezone.now(), ledger_id, amount]


def _ledger_add(*, ledger_id: int, amount: Decimal) -> bool:
    """THE conditional update: hold `amount` more on the row if it still fits under the limit.

    On PostgreSQL in SQL written once (the ORM took a fifth of a submission's web CPU to build
    it, issue 13); elsewhere through the ORM, whose `_money` rounding SQLite needs."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_LEDGER_ADD_SQL, _ledger_add_params(ledger_id, amount))
            return cursor.rowcount == 1
    return (
        BudgetLedger.objects.filter(pk=ledger_id, limit_usd__gte=F("spent_usd") + F("reserved_usd") + amount).update(
            reserved_usd=_money(F("reserved_usd") + amount), updated_at=timezone.now()
        )
        == 1
    )


def _hold(*, ledger_ids: list[int], amount: Decimal) -> bool:
    """Hold `amount` on every row (the tier's, then the team's: always this order), or on
    none: when a row after the first cannot fit it, the caller's savepoint is rolled back
    (a first row that cannot fit it has changed nothing, so there is nothing to undo)."""
    for done, ledger_id in enumerate(ledger_ids):
        if not _ledger_add(ledger_id=ledger_id, amount=amount):
            if done:
                transaction.set_rollback(True)
            return False
    return True


def budget_reserve(
    *,
    tier: Tier,
    ref: str,
    amount_usd: Decimal,
    team: str = "",
    ledger: BudgetLedger | None = None,
    new_ref: bool = False,
) -> bool:
    """Hold `amount_usd` on the tier's ledger for today under `ref` (and on the team's row
    when the team has a budget on this tier); False, and nothing held, if it does not fit.

    Idempotent by ref: a ref that already holds a reservation is not charged again (`new_ref`:
    the caller made the ref just now, a new job's public id, so that check is skipped).
    `ledger`: the tier's row for today when the caller has it already (saves reading it again).
    """
    if not new_ref and Reservation.objects.filter(ref=ref).exists():
        return True
    ledger = ledger if ledger is not None and ledger.tier_id == tier.pk else ledger_for(tier=tier)
    team_ledger = ledger_for(tier=tier, team=team) if team_has_budget(tier=tier, team=team) else None
    ids = [ledger.pk] + ([team_ledger.pk] if team_ledger else [])
    reservation = Reservation(ref=ref, ledger=ledger, team_ledger=team_ledger, amount_usd=amount_usd)
    if len(ids) == 1 and connection.vendor == "postgresql":
        # The hold and its reservation in one statement: the reservation is written only if
        # the conditional update held the amount (a round trip less at every submission).
        return row_insert_guarded(
            reservation, guard=_LEDGER_ADD_SQL + " RETURNING id", guard_params=_ledger_add_params(ids[0], amount_usd)
        )
    # A savepoint only when there are two rows to hold on: one row that cannot fit the
    # amount is left as it was (`_hold`), so there is nothing to roll back then.
    with transaction.atomic(savepoint=len(ids) > 1):
        if not _hold(ledger_ids=ids, amount=amount_usd):
            return False
        rows_insert([reservation])
    return True


def budget_extend(*, ref: str, amount_usd: Decimal) -> bool:
    """Hold `amount_usd` more for a job that already holds a reservation (an escalation step,
    a hedge). False — and nothing held — if a ledger row cannot fit it or the ref holds nothing."""
    held = Reservation.objects.filter(ref=ref, state=ReservationState.HELD).first()
    if held is None:
        return False
    ids = [held.ledger_id] + ([held.team_ledger_id] if held.team_ledger_id else [])
    with transaction.atomic():
        if not _hold(ledger_ids=ids, amount=amount_usd):
            return False
        if (
            Reservation.objects.filter(pk=held.pk, state=ReservationState.HELD).update(
                amount_usd=_money(F("amount_usd") + amount_usd)
            )
            != 1
        ):
            # Settled meanwhile: give the money straight back (rolled back with the savepoint).
            transaction.set_rollback(True)
            return False
    return True


def _held_move(*, ref: str, spent_usd: Decimal, state: str | None) -> bool | None:
    """PostgreSQL: `_close` (`state` given) or `budget_book` (`state` None) as one statement,
    where the ORM takes four (the reservation locked and read, then it and its ledger row
    updated). The reservation is locked and read in the WITH (its held amount and what is
    booked already), updated from that, then its tier's ledger row; the team's row, when
    the reservation has one, is updated after it (the order every hold and close keeps).
    None on other databases (the caller does it through the ORM); False if the ref holds no
    open reservation."""
    if connection.vendor != "postgresql":
        return None
    now = timezone.now()
    reservation, ledger = Reservation._meta.db_table, BudgetLedger._meta.db_table
    if state is None:
        sets, params = "amount_usd = 0", []  # booked: nothing held any more, the reservation stays open
    else:
        sets, params = "state = %s, closed_at = %s", [state, now]
    with connection.cursor() as cursor:
        execute_prepared(  # planned once per connection (apps.core.prepared)
            cursor,
            name="renderhub_reservation_book" if state is None else "renderhub_reservation_close",
            sql=f"WITH o AS (SELECT id, amount_usd, COALESCE(actual_usd, 0) AS booked FROM {reservation}"
            f" WHERE ref = %s AND state = %s FOR UPDATE),"
            f" r AS (UPDATE {reservation} r SET {sets}, actual_usd = GREATEST(%s, o.booked)"
            f" FROM o WHERE r.id = o.id RETURNING r.ledger_id, r.team_ledger_id, o.amount_usd AS held,"
            f" GREATEST(%s, o.booked) - o.booked AS delta)"
            f" UPDATE {ledger} l SET reserved_usd = ROUND(l.reserved_usd - r.held, 4),"
            f" spent_usd = ROUND(l.spent_usd + r.delta, 4), updated_at = %s"
            f" FROM r WHERE l.id = r.ledger_id RETURNING r.team_ledger_id, r.held, r.delta",
            params=[ref, ReservationState.HELD.value, *params, spent_usd, spent_usd, now],
        )
        row = cursor.fetchone()
    if row is None:
        return False
    team_ledger_id, held, delta = row
    if team_ledger_id is not None:
        BudgetLedger.objects.filter(pk=team_ledger_id).update(
            reserved_usd=_money(F("reserved_usd") - held), spent_usd=_money(F("spent_usd") + delta), updated_at=now
        )
    return True


def _close(*, ref: str, actual_usd: Decimal, state: str) -> bool:
    # No savepoint of its own: its errors are not caught inside an enclosing transaction.
    with transaction.atomic(savepoint=False):
        moved = _held_move(ref=ref, spent_usd=actual_usd, state=state)
        if moved is not None:
            return moved
        held = Reservation.objects.select_for_update().filter(ref=ref, state=ReservationState.HELD).first()
        if held is None:
            return False
        # What `budget_spend`/`budget_book` already moved to `spent` is not counted twice, and
        # a cost booked after the caller summed its attempts is not taken back.
        booked = held.actual_usd or Decimal("0")
        actual = max(actual_usd, booked)
        Reservation.objects.filter(pk=held.pk).update(state=state, actual_usd=actual, closed_at=timezone.now())
        for ledger_id in [held.ledger_id] + ([held.team_ledger_id] if held.team_ledger_id else []):
            BudgetLedger.objects.filter(pk=ledger_id).update(
                reserved_usd=_money(F("reserved_usd") - held.amount_usd),
                spent_usd=_money(F("spent_usd") + actual - booked),
                updated_at=timezone.now(),
            )
    return True


def budget_spend(*, ref: str, amount_usd: Decimal) -> bool:
    """Book one billed engine call as spent the moment its cost is known, so that `spent`
    always equals the sum of the billed attempts (`manage.py budget reconcile` checks it).

    The amount leaves the job's hold (as much of it as is held) and enters `spent`; it is
    added to the reservation's `actual_usd`. A cost above the hold (the vendor billed more
    than estimated) is booked all the same: the truth wins over the limit, and a tier left
    over its limit refuses new work (`admission_decide`). A call billed after the job's
    reservation closed (a hedge loser answering late) is added to `spent` too. False if the
    ref never held a reservation (nothing is written).
    """
    if amount_usd <= 0:
        return True
    with transaction.atomic():
        held = Reservation.objects.select_for_update().filter(ref=ref).first()
        if held is None:
            return False
        take = min(amount_usd, held.amount_usd) if held.state == ReservationState.HELD else Decimal("0")
        Reservation.objects.filter(pk=held.pk).update(
            amount_usd=_money(F("amount_usd") - take), actual_usd=(held.actual_usd or Decimal("0")) + amount_usd
        )
        for ledger_id in [held.ledger_id] + ([held.team_ledger_id] if held.team_ledger_id else []):
            BudgetLedger.objects.filter(pk=ledger_id).update(
                reserved_usd=_money(F("reserved_usd") - take),
                spent_usd=_money(F("spent_usd") + amount_usd),
                updated_at=timezone.now(),
            )
    return True


def budget_book(*, ref: str, spent_usd: Decimal) -> bool:
    """A job comes to rest without finishing (a preview-only tier's job waits for an editor
    who may never ask for the final): book what it has spent so far as spent and let the
    rest of its hold go. The reservation stays open with nothing held, so a final asked for
    later holds its price again (`budget_extend`) and the closing settle adds only the
    difference. False if the ref holds no open reservation."""
    with transaction.atomic(savepoint=False):
        moved = _held_move(ref=ref, spent_usd=spent_usd, state=None)
        if moved is not None:
            return moved
        held = Reservation.objects.select_for_update().filter(ref=ref, state=ReservationState.HELD).first()
        if held is None:
            return False
        booked = held.actual_usd or Decimal("0")
        spent = max(spent_usd, booked)  # what `budget_spend` booked meanwhile is not taken back
        Reservation.objects.filter(pk=held.pk).update(amount_usd=Decimal("0"), actual_usd=spent)
        for ledger_id in [held.ledger_id] + ([held.team_ledger_id] if held.team_ledger_id else []):
            BudgetLedger.objects.filter(pk=ledger_id).update(
                reserved_usd=_money(F("reserved_usd") - held.amount_usd),
                spent_usd=_money(F("spent_usd") + spent - booked),
                updated_at=timezone.now(),
            )
    return True


def budget_settle(*, ref: str, actual_usd: Decimal) -> bool:
    """Settle a job's reservation against what its attempts actually cost: the held amount
    leaves `reserved`, the actual cost enters `spent`. Exactly once per ref; a repeat (or a
    ref that never held money, e.g. a refused job) returns False and changes nothing."""
    return _close(ref=ref, actual_usd=actual_usd, state=ReservationState.SETTLED)


def budget_reopen(*, ref: str) -> bool:
    """Open a settled (or released) reservation again with nothing held, for a job that
    waits in review again after its moderator undid the decision that closed it.

    The ledger is not touched: what the job spent stays spent, and the spare hold that the
    close gave back stays given back (like `budget_book`), so a re-render holds its price
    again with `budget_extend` and the next close adds only what was spent since. False if
    the ref has no closed reservation (nothing changed)."""
    return (
        Reservation.objects.filter(ref=ref, state__in=[ReservationState.SETTLED, ReservationState.RELEASED]).update(
            state=ReservationState.HELD, amount_usd=Decimal("0"), closed_at=None
        )
        == 1
    )


def budget_release(*, ref: str) -> bool:
    """Release a job's reservation without spending (it failed before any cost, was refused
    or cancelled). Exactly once per ref."""
    return _close(ref=ref, actual_usd=Decimal("0"), state=ReservationState.RELEASED)


# --- Admission ----------------------------------------------------------------------------


def _usd(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"


def _breakdown(estimate: CostEstimate) -> str:
    """How an estimate with expected re-renders adds up ("" for one final attempt): the
    learnt attempt count multiplies the final's price, not the total."""
    if estimate.expected_attempts <= 1:
        return ""
    finals = f"{estimate.expected_attempts} expected final attempts × {_usd(estimate.final_usd)}"
    return f" ({_usd(estimate.preview_usd)} preview + {finals})" if estimate.preview_usd else f" ({finals})"


def _when(moment: datetime) -> str:
    local = moment.astimezone(budget_timezone())
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def admission_engines(*, tier: Tier, engine: Engine | None, with_preview: bool) -> list[Engine]:
    """The engines a job is admitted to run on: a pinned engine, else the tier's final engine
    and (with a preview) its preview engine."""
    if engine is not None:
        return [engine]
    return [tier.final_engine] + ([tier.preview_engine] if with_preview else [])


def over_limit(*, tier: Tier, team: str = "", ledger: BudgetLedger | None = None) -> str:
    """Why today's ledger of the tier (or of the team's budget on it) is over its limit, or
    "" (an admin lowered the limit below what is spent and held, or calls billed more than
    their holds). `ledger`: the tier's row for today, when the caller has read it already."""
    rows = [("", f"{tier.name}'s")]
    if team_has_budget(tier=tier, team=team):
        rows.append((team, f"The {team} team's {tier.name}"))
    for row_team, whose in rows:
        row = ledger if (ledger is not None and not row_team) else ledger_for(tier=tier, team=row_team)
        if row.spent_usd + row.reserved_usd > row.limit_usd:
            return (
                f"{whose} budget for today is over its limit: {_usd(row.spent_usd)} spent and "
                f"{_usd(row.reserved_usd)} held of {_usd(row.limit_usd)}."
            )
    return ""


def predicted_wait_ms(*, queue_depth: int, throughput_per_s: float | None) -> float | None:
    """Queue depth ÷ recent throughput; None when there is no throughput to go by."""
    if queue_depth <= 0:
        return 0.0
    if not throughput_per_s or throughput_per_s <= 0:
        return None
    return queue_depth / throughput_per_s * 1000


def admission_decide(
    *,
    tier: Tier,
    engine: Engine | None,
    width: int,
    height: int,
    asset_class: str,
    ref: str,
    template: str = "",
    with_preview: bool = True,
    queue_depth: int = 0,
    throughput_per_s: float | None = None,
    final_queue_depth: int = 0,
    final_throughput_per_s: float | None = None,
    verify_queue_depth: int = 0,
    verify_throughput_per_s: float | None = None,
    team: str = "",
    new_ref: bool = False,
) -> AdmissionDecision:
    """Decide admit | degrade | defer | refuse before any money is spent.

    Latency first: queues whose predicted wait (depth ÷ recent throughput, the first stage's
    queue plus the final queue for auto-final tiers plus the verification queue — images
    waiting for OCR ÷ the measured OCR rate — as the caller passes them) passes
    LATENCY_DEFER_FACTOR × the tier's latency budget defers the job until it drains
    (must-not-degrade classes are admitted with a note instead). Then money: a class that
    may degrade moves to the tier's `degrade_to` once the day is `degrade_at_percent` spent
    or full; otherwise the estimate is reserved with one conditional update. A job that does
    not fit is deferred to the next budget day (or refused when the tier says so, or when it
    costs more than a whole day's budget). A `team` with a TeamBudget on the tier must fit
    its own row too. `new_ref`: `ref` was made for this job just now (`budget_reserve`).
    Writes: a Reservation and its ledger row(s).
    """
    klass = asset_class_get(slug=asset_class)
    keep = bool(klass and klass.must_not_degrade)
    now = timezone.now()
    notes: list[str] = []

    verify_wait = predicted_wait_ms(queue_depth=verify_queue_depth, throughput_per_s=verify_throughput_per_s)
    waits = [
        predicted_wait_ms(queue_depth=queue_depth, throughput_per_s=throughput_per_s),
        predicted_wait_ms(queue_depth=final_queue_depth, throughput_per_s=final_throughput_per_s),
        verify_wait,
    ]
    known = [w for w in waits if w is not None]
    wait = sum(known) if known else None
    if wait is not None and wait > tier.max_latency_ms:
        seconds = wait / 1000
        verifying = ""
        if verify_queue_depth and verify_wait:
            verifying = (
                f" and the verification queue {verify_queue_depth} deep (OCR at "
                f"{verify_throughput_per_s:.1f} images/s: about {verify_wait / 1000:.0f} s)"
            )
        if not keep and wait > LATENCY_DEFER_FACTOR * tier.max_latency_ms:
            until = now + timedelta(milliseconds=wait)
            depth = " + ".join(str(d) for d in (queue_depth, final_queue_depth) if d) or "0"
            # Nothing is held yet, but the job will cost when it runs: carry the estimate so
            # the page never shows $0 for it (an unpriced engine leaves it unknown, said so).
            later = cost_estimate(
                tier=tier, engine=engine, width=width, height=height, template=template, with_preview=with_preview
            )
            priced = all(
                engine_is_priced(e) for e in admission_engines(tier=tier, engine=engine, with_preview=with_preview)
            )
            cost = f"estimated {_usd(later.total_usd)}" if priced else "its cost is unknown (an engine has no price)"
            return AdmissionDecision(
                outcome=Outcome.DEFER,
                tier=tier,
                estimate_usd=later.total_usd if priced else Decimal("0"),
                reason=f"The {tier.name} queue is {depth} deep{verifying} (about {seconds:.0f} s of work, "
                f"budget {tier.max_latency_ms / 1000:g} s); deferred until it drains, about {_when(until)}; "
                f"{cost}, held when it starts.",
                defer_until=until,
            )
        notes.append(
            f"The queues{verifying} predict about {seconds:.1f} s of waiting, over the tier's "
            f"{tier.max_latency_ms / 1000:g} s latency budget."
        )

    unpriced = [
        e for e in admission_engines(tier=tier, engine=engine, with_preview=with_preview) if not engine_is_priced(e)
    ]
    if unpriced and not tier.allow_unpriced:
        names = ", ".join(e.name for e in unpriced)
        return AdmissionDecision(
            outcome=Outcome.REFUSE,
            tier=tier,
            reason=f"Refused: {names} has no price (no price table and a base price of $0), so what it "
            f"bills could not be held or booked, and {tier.name} does not allow unpriced engines.",
        )
    estimate = cost_estimate(
        tier=tier, engine=engine, width=width, height=height, template=template, with_preview=with_preview
    )
    ledger = ledger_for(tier=tier)
    cheaper = tier.degrade_to if (tier.degrade_to_id and not keep and engine is None) else None
    if cheaper is not None and cheaper.pk != tier.pk:
        nearly = ledger.limit_usd * Decimal(tier.degrade_at_percent) / 100
        if ledger.spent_usd + ledger.reserved_usd + estimate.total_usd > nearly:
            low = cost_estimate(
                tier=cheaper, engine=None, width=width, height=height, template=template, with_preview=with_preview
            )
            if budget_reserve(tier=cheaper, ref=ref, amount_usd=low.total_usd, team=team, new_ref=new_ref):
                return AdmissionDecision(
                    outcome=Outcome.DEGRADE,
                    tier=cheaper,
                    estimate_usd=low.total_usd,
                    reason=f"{tier.name}'s budget for today is nearly spent "
                    f"({_usd(ledger.spent_usd + ledger.reserved_usd)} of {_usd(ledger.limit_usd)}); "
                    f"rendered on {cheaper.name} instead, estimated {_usd(low.total_usd)}.",
                )

    over = over_limit(tier=tier, team=team, ledger=ledger)
    if over:
        return AdmissionDecision(
            outcome=Outcome.REFUSE,
            tier=tier,
            estimate_usd=estimate.total_usd,
            reason=f"Refused: {over} New work is refused until the budget resets at "
            f"{_when(budget_reset_at(now=now))} or an admin raises the limit.",
        )
    if budget_reserve(tier=tier, ref=ref, amount_usd=estimate.total_usd, team=team, ledger=ledger, new_ref=new_ref):
        return AdmissionDecision(
            outcome=Outcome.ADMIT,
            tier=tier,
            estimate_usd=estimate.total_usd,
            reason=" ".join(
                [f"Admitted to {tier.name}, estimated {_usd(estimate.total_usd)}{_breakdown(estimate)}.", *notes]
            ),
        )

    fresh = BudgetLedger.objects.get(pk=ledger.pk)
    whose = f"{tier.name}'s"
    if fresh.spent_usd + fresh.reserved_usd + estimate.total_usd <= fresh.limit_usd and team_has_budget(
        tier=tier, team=team
    ):
        fresh = ledger_for(tier=tier, team=team)  # the tier had room: the team's budget did not
        whose = f"The {team} team's {tier.name}"
    if estimate.total_usd > fresh.limit_usd:
        return AdmissionDecision(
            outcome=Outcome.REFUSE,
            tier=tier,
            estimate_usd=estimate.total_usd,
            reason=f"Refused: this render is estimated at {_usd(estimate.total_usd)}, more than {whose} "
            f"whole daily budget of {_usd(fresh.limit_usd)}.",
        )
    spent = (
        f"{whose} budget for today is spent: {_usd(fresh.spent_usd)} spent and "
        f"{_usd(fresh.reserved_usd)} held of {_usd(fresh.limit_usd)}, and this render needs "
        f"{_usd(estimate.total_usd)}"
    )
    if tier.when_spent == WhenSpent.REFUSE:
        return AdmissionDecision(
            outcome=Outcome.REFUSE,
            tier=tier,
            estimate_usd=estimate.total_usd,
            reason=f"Refused: {spent}. Try again after the budget resets at {_when(budget_reset_at(now=now))}.",
        )
    reset = budget_reset_at(now=now)
    return AdmissionDecision(
        outcome=Outcome.DEFER,
        tier=tier,
        estimate_usd=estimate.total_usd,
        reason=f"Deferred: {spent}. It will run when the budget resets at {_when(reset)}.",
        defer_until=reset,
    )


# --- Escalation ---------------------------------------------------------------------------


def _ladder_engine(item: dict) -> Engine | None:
    slug = item.get("engine")
    return Engine.objects.filter(slug=slug, enabled=True).first() if slug else None


def escalation_next(
    *,
    tier: Tier,
    attempts_made: int,
    last_guidance: int,
    verdict_reasons: list[str],
    ref: str = "",
    width: int = 0,
    height: int = 0,
    last_engine: Engine | None = None,
) -> EscalationStep:
    """The next step after a failed verification, from the tier's ladder.

    The ladder (``Tier.escalation_ladder``, default guidance → review) is walked one step
    per failed final attempt; with a `ref` the position is kept on the job's reservation
    (so each call advances it once). Engine steps naming a missing or disabled engine are
    skipped. Past the ladder's end or the tier's `max_attempts` (the caller counts
    the final stage's attempts: a failed preview does not use up the final's) the job goes to
    moderation. Each rendering step first reserves its
    price (`budget_extend`, priced on `last_engine` for steps that keep the failed attempt's
    engine); if today's budget cannot hold it, moderation instead.
    """
    why = "; ".join(verdict_reasons[:3]) or "verification failed"
    if attempts_made >= tier.max_attempts:
        # Say what was counted: the caller counts final attempts only, and a reviewer who sees
        # a preview and two finals must not read "after 2 attempts" as a miscount.
        plural = "" if attempts_made == 1 else "s"
        return EscalationStep(
            step="review",
            reason=f"Still failing after {attempts_made} final attempt{plural}, {tier.name}'s limit of "
            f"{tier.max_attempts} (a preview is not counted) ({why}); sent to moderation.",
        )
    ladder = tier.escalation_ladder or DEFAULT_LADDER
    position = 0
    held = None
    if ref:
        with transaction.atomic():
            held = Reservation.objects.select_for_update().filter(ref=ref).first()
            if held is not None:
                position = held.escalations
                Reservation.objects.filter(pk=held.pk).update(escalations=F("escalations") + 1)
    while position < len(ladder):
        item = ladder[position]
        kind = item.get("step")
        engine = _ladder_engine(item) if kind == "engine" else None
        if kind == "engine" and engine is None:
            position += 1  # the engine was removed or disabled since the ladder was written
            continue
        break
    else:
        kind, engine = "review", None
    if kind not in ("guidance", "engine", "composite"):
        return EscalationStep(step="review", reason=f"Verification failed ({why}); the ladder ends in moderation.")

    # A guidance or composite step re-renders on the engine of the failed attempt (the caller
    # keeps it); an engine step on the ladder's engine. Hold the price of the one that runs.
    price_engine = engine or last_engine or tier.final_engine
    price = (
        engine_price(engine=price_engine, width=width, height=height, quality=tier.quality)
        if width and height
        else price_engine.price_usd
    )
    if held is not None and not budget_extend(ref=ref, amount_usd=price):
        return EscalationStep(
            step="review",
            reason=f"Verification failed ({why}); {tier.name}'s budget for today cannot hold another attempt "
            f"({_usd(price)}), so a moderator decides.",
        )
    if kind == "guidance":
        level = last_guidance + 1
        return EscalationStep(
            step="guidance",
            guidance=level,
            new_seed=True,
            reason=f"Verification failed ({why}); re-rendering with stronger guidance (level {level}), "
            "an explicit exact-text clause and a new seed.",
        )
    if kind == "engine":
        assert engine is not None
        return EscalationStep(
            step="engine",
            engine=engine,
            guidance=last_guidance,
            reason=f"Verification failed ({why}); trying the typography specialist {engine.label}.",
        )
    return EscalationStep(
        step="composite",
        guidance=last_guidance,
        reason=f"Verification failed ({why}); setting the text by deterministic compositing.",
    )
