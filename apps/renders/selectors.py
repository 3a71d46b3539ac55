"""Reads: which jobs a user may see, with what they need loaded."""

import hashlib
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Prefetch, Q, QuerySet, Sum
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.engines.adapter_support import engine_adapter_support
from apps.policy.models import BudgetLedger, Reservation, ReservationState
from apps.renders.models import SETTLED_STATUSES, AdapterUse, AttemptStatus, JobStatus, RenderAttempt, RenderJob


def jobs_visible_to(user: AbstractBaseUser) -> QuerySet[RenderJob]:
    qs = RenderJob.objects.select_related("template", "tier", "engine", "submitted_by")
    if user.has_perm("renders.view_all_renders"):
        return qs
    return qs.filter(submitted_by=user)


def job_for_user(*, user: AbstractBaseUser, public_id: object) -> RenderJob:
    """The job with its attempts, or 404 when the user may not see it (no ID probing)."""
    attempts = RenderAttempt.objects.select_related("engine", "verification", "adapter").order_by("number")
    return get_object_or_404(
        jobs_visible_to(user).prefetch_related(Prefetch("attempts", queryset=attempts)), public_id=public_id
    )


def jobs_matching(jobs: QuerySet[RenderJob], q: str) -> QuerySet[RenderJob]:
    """Jobs whose typed text contains `q` (any case), or whose id is `q` or starts with it."""
    q = q.strip()
    match = Q(typed_text__icontains=q)
    try:
        match |= Q(public_id=uuid.UUID(q))
    except ValueError:
        if re.fullmatch(r"[0-9a-fA-F]{4,8}", q):
            match |= Q(public_id__startswith=q.lower())
    return jobs.filter(match)


def jobs_by_public_ids(*, user: AbstractBaseUser, public_ids: list[str]) -> list[RenderJob]:
    """The user's visible jobs among `public_ids` (malformed ids skipped), newest first, with
    their attempts, engines and verifications loaded."""
    valid = []
    for value in public_ids:
        try:
            valid.append(uuid.UUID(value))
        except ValueError:
            continue
    attempts = RenderAttempt.objects.select_related("engine", "verification").order_by("number")
    return list(
        jobs_visible_to(user).filter(public_id__in=valid).prefetch_related(Prefetch("attempts", queryset=attempts))
    )


def attempt_for_user(*, user: AbstractBaseUser, public_id: object, number: int) -> RenderAttempt:
    return get_object_or_404(
        RenderAttempt.objects.select_related("job"),
        job__in=jobs_visible_to(user),
        job__public_id=public_id,
        number=number,
    )


def job_best_attempt(job: RenderJob) -> RenderAttempt | None:
    """The image to show: the latest final with an image, else the latest preview."""
    with_image = [a for a in job.attempts.all() if a.image]
    finals = [a for a in with_image if a.stage == "final"]
    pool = finals or with_image
    return pool[-1] if pool else None


def job_preview_attempt(job: RenderJob) -> RenderAttempt | None:
    previews = [a for a in job.attempts.all() if a.image and a.stage == "preview"]
    return previews[-1] if previews else None


def job_calls_in_flight(job: RenderJob) -> bool:
    """Whether an attempt's engine call or verification is still running (from the prefetched
    attempts): a cancel does not stop a call already sent, which is billed and shown when it
    answers, so the page keeps polling for it."""
    return any(a.status in (AttemptStatus.RUNNING, AttemptStatus.VERIFYING) for a in job.attempts.all())


def job_final_attempt(job: RenderJob) -> RenderAttempt | None:
    finals = [a for a in job.attempts.all() if a.image and a.stage == "final"]
    return finals[-1] if finals else None


def _page_version_sql() -> str:
    job, attempt = RenderJob._meta.db_table, RenderAttempt._meta.db_table
    return (
        "SELECT j.id, j.submitted_by_id, j.status, j.updated_at, j.defer_until, j.admission_reason,"
        " j.actual_cost_usd, COUNT(a.id), MAX(a.started_at), MAX(a.finished_at),"
        " COUNT(CASE WHEN a.image <> '' THEN 1 END), COUNT(a.verification_id),"
        " COUNT(CASE WHEN a.status = %s THEN 1 END)"
        f" FROM {job} j LEFT JOIN {attempt} a ON a.job_id = j.id"
        " WHERE j.public_id = %s GROUP BY j.id"
    )


def job_page_version(*, user: AbstractBaseUser, public_id: uuid.UUID) -> str | None:
    """A fingerprint of everything the job page's status partial shows, from one aggregate
    query on the job's public id (unique index) and its attempts (job index); no attempts
    fetched, no template rendered. None when there is no such job or the user may not see it.

    Each attempt change the page shows moves one of these: claimed (started_at), image stored,
    verified, finished, cancelled. The running time the page shows is not part of it: the
    browser ticks it (static/js/running-clock.js), so a running job's poll answers 304 until
    something happens rather than a new partial every second. The submitter polling their
    own job (the common case) costs this one query; anyone else is checked against
    `renders.view_all_renders` as `jobs_visible_to` does (the permission queries, cached on
    the user for the request).

    Plain SQL (the same on PostgreSQL and SQLite): every open job page asks this 2.5 times a
    second, and building the equivalent ORM aggregate cost more CPU than running it."""
    key = RenderJob._meta.get_field("public_id").get_db_prep_value(public_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(_page_version_sql(), [AttemptStatus.CANCELLED.value, key])
        row = cursor.fetchone()
    if row is None:
        return None
    if row[1] != user.pk and not user.has_perm("renders.view_all_renders"):
        return None
    digest = hashlib.blake2b(repr(row).encode(), digest_size=12).hexdigest()
    return f"{user.pk}-{digest}"


@dataclass(frozen=True, kw_only=True)
class Fallback:
    """One engine failure and the fallback engine that stood in for it."""

    stage: str
    failed_engine: str  # slug
    failed_engine_name: str
    error_kind: str
    error: str
    fallback_engine: str  # slug
    fallback_engine_name: str
    delivered: bool  # the fallback produced the image

    def as_json(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "failed_engine": self.failed_engine,
            "error_kind": self.error_kind,
            "error": self.error,
            "fallback_engine": self.fallback_engine,
            "delivered_by": self.fallback_engine if self.delivered else None,
        }


def job_fallbacks(job: RenderJob) -> list[Fallback]:
    """Every fallback of the job: which engine failed (the stage's last errored attempt before
    it), why, and whether the fallback engine produced the image."""
    attempts = list(job.attempts.all())
    found = []
    for a in attempts:
        if a.step != "fallback":
            continue
        failed = [b for b in attempts if b.stage == a.stage and b.number < a.number and b.status == "error"]
        if not failed:
            continue
        f = failed[-1]
        found.append(
            Fallback(
                stage=a.stage,
                failed_engine=f.engine.slug,
                failed_engine_name=f.engine.label,
                error_kind=f.error_kind,
                error=f.error,
                fallback_engine=a.engine.slug,
                fallback_engine_name=a.engine.label,
                delivered=bool(a.image),
            )
        )
    return found


@dataclass(frozen=True, kw_only=True)
class AdapterNote:
    """What became of the template's adapter on one engine of a job (one per adapter, engine
    and outcome): `use` is an AdapterUse value, `text` the sentence the job page shows."""

    adapter: str
    engine: str
    use: str
    strength: float | None
    attempts: list[int]  # attempt numbers
    text: str


def job_adapter_notes(job: RenderJob) -> list[AdapterNote]:
    """Per (adapter, engine, outcome) of the job's attempts, in attempt order: applied at what
    strength, not applied because the engine cannot use adapters (never silent), or left off
    on purpose. Needs `attempts__adapter` and `attempts__engine` loaded."""
    groups: dict[tuple[int, int, str], list[RenderAttempt]] = {}
    for a in job.attempts.all():
        if a.adapter_id is not None and a.adapter_use:
            groups.setdefault((a.adapter_id, a.engine_id, a.adapter_use), []).append(a)
    notes = []
    for (_, _, use), attempts in groups.items():
        first = attempts[0]
        assert first.adapter is not None
        name, engine = first.adapter.name, first.engine.label
        if use == AdapterUse.APPLIED:
            text = f"{name} applied on {engine} at strength {first.adapter_strength:g}."
        elif use == AdapterUse.UNSUPPORTED:
            why = engine_adapter_support(engine=first.engine, reference=first.adapter.reference).how
            if engine_adapter_support(engine=first.engine).supported:  # adapters, but not this one
                text = f"{name} was NOT applied on {engine}: {why}"
            else:
                text = f"{name} was NOT applied on {engine}: the engine cannot use adapters ({why})"
        else:
            text = f"{name} left off on purpose (rendered without the adapter for a before/after comparison)."
        notes.append(
            AdapterNote(
                adapter=name,
                engine=engine,
                use=use,
                strength=first.adapter_strength,
                attempts=[a.number for a in attempts],
                text=text,
            )
        )
    return notes


def job_price_unknown(job: RenderJob) -> bool:
    """Whether an attempt could not be priced (booked at $0, flagged): it delivered an image
    that neither usage nor a price table prices, or its call reached a paid vendor and timed
    out, so the vendor may have billed it."""
    return any(a.price_source == "unknown" for a in job.attempts.all())


@dataclass(frozen=True, kw_only=True)
class LedgerDifference:
    """One place where the ledger and the attempts disagree (`manage.py budget reconcile`)."""

    tier: str
    team: str
    day: str
    what: str  # spent | reserved | reservation | unledgered
    ledger_usd: Decimal
    attempts_usd: Decimal
    ref: str = ""

    def __str__(self) -> str:
        where = f"{self.tier}{'/' + self.team if self.team else ''} {self.day}"
        ref = f" job {self.ref}" if self.ref else ""
        return (
            f"{where}{ref}: {self.what} on the ledger ${self.ledger_usd} ≠ ${self.attempts_usd} from the attempts "
            f"(difference ${self.ledger_usd - self.attempts_usd})"
        )


def ledger_differences(*, day: date | None = None) -> tuple[int, list[LedgerDifference]]:
    """Check the budget ledger against the attempts: (rows checked, differences).

    Per ledger row (tier, team, day): `spent` must equal the cost of the billed attempts of
    the jobs whose reservation is on that row, `reserved` the amounts their open
    reservations still hold; per job, the reservation's booked cost must equal its attempts';
    and no job may have billed attempts without a reservation. `day` limits the check to one
    budget day."""
    costs: dict[str, Decimal] = {
        str(ref): total
        for ref, total in RenderAttempt.objects.filter(cost_usd__gt=0)
        .values("job__public_id")
        .annotate(total=Sum("cost_usd"))
        .values_list("job__public_id", "total")
    }
    rows = BudgetLedger.objects.select_related("tier")
    reservations = Reservation.objects.select_related("ledger__tier")
    if day is not None:
        rows, reservations = rows.filter(day=day), reservations.filter(ledger__day=day)
    spent: dict[int, Decimal] = defaultdict(Decimal)
    held: dict[int, Decimal] = defaultdict(Decimal)
    found: list[LedgerDifference] = []
    for r in reservations:
        cost = costs.pop(r.ref, Decimal("0"))
        for ledger_id in (r.ledger_id, r.team_ledger_id):
            if ledger_id:
                spent[ledger_id] += cost
                if r.state == ReservationState.HELD:
                    held[ledger_id] += r.amount_usd
        booked = r.actual_usd or Decimal("0")
        if booked != cost:
            found.append(
                LedgerDifference(
                    tier=r.ledger.tier.slug,
                    team="",
                    day=r.ledger.day.isoformat(),
                    what="reservation",
                    ledger_usd=booked,
                    attempts_usd=cost,
                    ref=r.ref,
                )
            )
    checked = 0
    for row in rows:
        checked += 1
        for what, on_ledger, expected in (
            ("spent", row.spent_usd, spent[row.pk]),
            ("reserved", row.reserved_usd, held[row.pk]),
        ):
            if on_ledger != expected:
                found.append(
                    LedgerDifference(
                        tier=row.tier.slug,
                        team=row.team,
                        day=row.day.isoformat(),
                        what=what,
                        ledger_usd=on_ledger,
                        attempts_usd=expected,
                    )
                )
    if day is None:
        jobs = RenderJob.objects.select_related("tier").filter(public_id__in=list(costs))
        for job in jobs:
            found.append(
                LedgerDifference(
                    tier=job.tier.slug,
                    team="",
                    day=job.created_at.date().isoformat(),
                    what="unledgered",
                    ledger_usd=Decimal("0"),
                    attempts_usd=costs[str(job.public_id)],
                    ref=str(job.public_id),
                )
            )
    return checked, found


@dataclass(frozen=True)
class JobDeferral:
    """How long a job that now runs (or ran) waited deferred before admission let it start."""

    waited_ms: float
    reason: str  # the first deferral's, as admission gave it


def job_deferral(job: RenderJob) -> JobDeferral | None:
    """The deferral a released job went through (None when it never was, or still is,
    deferred): the job page's admission line says "admitted" once released, and the wait
    would otherwise be unexplained in its latency. One query on the job's events."""
    if job.status == JobStatus.DEFERRED:
        return None
    events = list(job.events.filter(Q(to_status=JobStatus.DEFERRED) | Q(from_status=JobStatus.DEFERRED)))
    deferred = next((e for e in events if e.to_status == JobStatus.DEFERRED), None)
    released = next((e for e in reversed(events) if e.from_status == JobStatus.DEFERRED), None)
    if deferred is None or released is None:
        return None
    waited = (released.created_at - deferred.created_at).total_seconds() * 1000
    return JobDeferral(waited_ms=round(waited, 1), reason=deferred.reason)


@dataclass(frozen=True)
class JobLatency:
    """The job's time against its tier's latency budget, in ms.

    The budget covers submission → the stage the job rests at: the final on auto-final tiers,
    the preview where the editor asks for the final (a final asked for later is timed from
    its first final attempt). `met` is None while that stage has not been reached."""

    stage: str  # "final" | "preview"
    budget_ms: int
    elapsed_ms: float  # so far, or until the stage was reached
    reached: bool
    met: bool | None
    final_stage_ms: float | None  # an on-request final, from its start to delivery


def job_latency(job: RenderJob, *, now: datetime | None = None) -> JobLatency:
    """`job` with its attempts prefetched (`job_for_user`)."""
    now = now or timezone.now()
    budget = job.tier.max_latency_ms
    if job.auto_final:
        end = job.finished_at if job.status == JobStatus.DELIVERED else None
        stage = "final"
    else:
        end = job.preview_ready_at
        stage = "preview"
    resting = job.status in SETTLED_STATUSES or job.status == JobStatus.PREVIEW_READY
    stop = end or (job.finished_at or job.updated_at if resting else now)
    elapsed = round((stop - job.created_at).total_seconds() * 1000, 1)
    final_stage = None
    finals = [a for a in job.attempts.all() if a.stage == "final"]
    if not job.auto_final and finals and job.status == JobStatus.DELIVERED and job.finished_at:
        final_stage = round((job.finished_at - finals[0].created_at).total_seconds() * 1000, 1)
    met = None if end is None else elapsed <= budget
    return JobLatency(stage, budget, elapsed, end is not None, met, final_stage)


def job_refused_by_engine(job: RenderJob) -> RenderAttempt | None:
    """The attempt whose engine refused the request on content grounds (which ended the job)."""
    return job.attempts.filter(error_kind="refused").select_related("engine").order_by("-number").first()
