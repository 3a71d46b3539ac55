"""Running an attempt: claim it, call the engine, store the image and hand it to verification;
an engine error ends the attempt and the job falls back to another engine or fails."""

import logging
import secrets
import time
from datetime import datetime
from decimal import Decimal

from django.core.files.base import ContentFile
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.catalog.models import Adapter, Template
from apps.core.hotsql import ModelColumns, rows_update
from apps.core.prepared import execute_prepared
from apps.engines import pricing
from apps.engines.models import Engine
from apps.engines.services import engine_call_save, engine_generate
from apps.engines.types import Billing, EngineError, EngineRequest, EngineResult, MisconfiguredError, RefusedError
from apps.policy import services as policy
from apps.policy.models import Tier
from apps.renders.compositor import composite_text
from apps.renders.leases import lease_deadline, lease_kept
from apps.renders.models import AdapterUse, AttemptStatus, JobStatus, RenderAttempt, RenderJob, Stage
from apps.renders.pipeline import enqueue
from apps.renders.pipeline.attempts import attempt_start, ms_since
from apps.renders.pipeline.hedging import hedge_allowed, preview_rival_pending
from apps.renders.pipeline.outcome import attempt_conclude
from apps.renders.pipeline.state import final_in_flight, job_finish, job_to_final_stage

log = logging.getLogger(__name__)


def attempt_run(*, attempt_id: int) -> None:
    """Call the engine for a QUEUED attempt, store its image, then hand it to verification.

    Claims the attempt with a conditional update (QUEUED → RUNNING) that takes a lease
    (`leases`), renewed while the engine call runs: a redelivered task finds it claimed and
    does nothing; a worker that dies stops renewing and the sweeper retries the attempt.
    Any error of the engine call or of what follows (compositing, storing) ends the attempt
    as ERROR with its real reason at once; the job then falls back or fails with it. Lost
    database connections are not such errors: they propagate, so the task is retried.
    """
    now = timezone.now()
    attempt = _attempt_claim(attempt_id=attempt_id, now=now)
    if attempt is None:
        log.info("attempt %s is not queued any more; nothing to do", attempt_id)
        return
    job = attempt.job
    if hedge_allowed(attempt):
        enqueue.preview_hedge(attempt)  # checks, one latency budget from now, whether this call answered
    timings = {"queue_wait": round((now - attempt.created_at).total_seconds() * 1000, 1)}
    request = EngineRequest(
        prompt=attempt.prompt,
        negative_prompt=job.negative_prompt,
        seed=attempt.seed,
        width=job.width,
        height=job.height,
        guidance=attempt.guidance,
        adapter_ref=attempt.adapter.reference if attempt.adapter and attempt.adapter_use == AdapterUse.APPLIED else "",
        adapter_strength=attempt.adapter_strength if attempt.adapter_use == AdapterUse.APPLIED else None,
        extra={
            "text_regions": [job.regions[name] for name in job.texts if name in job.regions],
            "palette": job.template.palette if job.template else [],
            "quality": job.tier.quality,
        },
    )
    started = time.perf_counter()
    try:
        with lease_kept(attempt_id=attempt.pk):
            # The call's health record is written with the image, in one transaction.
            result = engine_generate(engine=attempt.engine, request=request, record_success=False)
    except EngineError as exc:
        timings["engine"] = ms_since(started)
        message = exc.message
        if exc.billing is not None:
            _attempt_book_failed_call(attempt, exc.billing)
        elif exc.possibly_billed and not pricing.zero_price_allowed(attempt.engine):
            _attempt_flag_possibly_billed(attempt)
            message += f" The request reached {attempt.engine.name}, which may have billed it: its cost is unknown."
        attempt_fail(attempt, kind=exc.kind, message=message, timings=timings, refused=isinstance(exc, RefusedError))
        return
    timings["engine"] = ms_since(started)
    try:
        _attempt_store(attempt, result=result, timings=timings)
    except (OperationalError, InterfaceError):
        raise  # the database went away: the task is retried, the lease recovers the attempt
    except Exception as exc:
        log.exception("attempt %s: storing the engine's image failed", attempt.pk)
        engine_call_save(result.health_record)  # the engine answered; storing failed
        attempt_fail(attempt, kind="internal_error", message=f"{type(exc).__name__}: {exc}", timings=timings)


_ATTEMPT = ModelColumns(RenderAttempt, "a")
_JOB = ModelColumns(RenderJob, "j")
_TEMPLATE = ModelColumns(Template, "t")
_TIER = ModelColumns(Tier, "ti")
_ENGINE = ModelColumns(Engine, "e")
_ADAPTER = ModelColumns(Adapter, "ad")


def _claim_select(source: str) -> str:
    """The claimed attempt `a` (read from `source`) with its job, the job's template and tier,
    its engine and its adapter: everything the engine call and the conclusion read."""
    return (
        f"SELECT {_ATTEMPT.sql}, {_JOB.sql}, {_TEMPLATE.sql}, {_TIER.sql}, {_ENGINE.sql}, {_ADAPTER.sql}"
        f" FROM {source} a JOIN {RenderJob._meta.db_table} j ON j.id = a.job_id"
        f" LEFT JOIN {Template._meta.db_table} t ON t.id = j.template_id"
        f" JOIN {Tier._meta.db_table} ti ON ti.id = j.tier_id"
        f" JOIN {Engine._meta.db_table} e ON e.id = a.engine_id"
        f" LEFT JOIN {Adapter._meta.db_table} ad ON ad.id = a.adapter_id"
    )


def _attempt_claim(*, attempt_id: int, now: datetime) -> RenderAttempt | None:
    """QUEUED → RUNNING with a lease, by a conditional update; the claimed attempt with its job
    (template, tier), engine and adapter, or None when it was not QUEUED any more.

    On PostgreSQL the claim and the read are one prepared statement (the update in a WITH, the
    joins on the row it returns: planning six tables cost PostgreSQL three times what running
    them does, `apps.core.prepared`); elsewhere (SQLite) the update, then the read.
    Hand-written: the same read through the ORM's select_related took about 2 ms of CPU to
    build and convert, twice per production job (issue 13)."""
    table = RenderAttempt._meta.db_table
    lease = lease_deadline(now=now)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            execute_prepared(
                cursor,
                name="renderhub_attempt_claim",
                sql=f"WITH a AS (UPDATE {table} SET status = %s, started_at = %s, lease_until = %s"
                f" WHERE id = %s AND status = %s RETURNING *) {_claim_select('a')}",
                params=[AttemptStatus.RUNNING.value, now, lease, attempt_id, AttemptStatus.QUEUED.value],
            )
        else:
            claimed = RenderAttempt.objects.filter(pk=attempt_id, status=AttemptStatus.QUEUED).update(
                status=AttemptStatus.RUNNING, started_at=now, lease_until=lease
            )
            if claimed != 1:
                return None
            cursor.execute(f"{_claim_select(table)} WHERE a.id = %s", [attempt_id])
        row = cursor.fetchone()
    if row is None:
        return None
    attempt, job = _ATTEMPT.load(row), _JOB.load(row, _ATTEMPT.width)
    if attempt is None or job is None:  # cannot happen: both are inner-joined
        return None
    at = _ATTEMPT.width + _JOB.width
    job.template, at = _TEMPLATE.load(row, at), at + _TEMPLATE.width
    job.tier, at = _TIER.load(row, at), at + _TIER.width
    attempt.engine, at = _ENGINE.load(row, at), at + _ENGINE.width
    attempt.adapter = _ADAPTER.load(row, at)
    attempt.job = job
    return attempt


def _attempt_store(attempt: RenderAttempt, *, result: EngineResult, timings: dict) -> None:
    """Composite, store and price the engine's image; RUNNING → VERIFYING (or concluded).

    Fenced: the move happens only while the attempt is still RUNNING. A worker that lost its
    lease (the sweeper already retried the attempt) keeps the cost on its attempt, which was
    billed, but changes nothing else."""
    job = attempt.job
    timings.update({f"engine_{k}": round(v, 1) for k, v in result.timings_ms.items()})
    image = result.image
    if job.texts and (attempt.step == "composite" or (job.template and job.template.composite_text)):
        started = time.perf_counter()
        image = composite_text(
            image=image,
            texts=job.texts,
            regions=job.regions,
            palette=job.template.palette if job.template else [],
        )
        result.mime_type = "image/png"
        timings["composite"] = ms_since(started)
    started = time.perf_counter()
    extension = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}.get(result.mime_type, "bin")
    name = f"{job.public_id}-{attempt.number}-{secrets.token_hex(8)}.{extension}"
    attempt.image.save(name, ContentFile(image), save=False)
    timings["store"] = ms_since(started)
    # Booked at what the adapter sent and the vendor billed, not at the canvas and the tier.
    _attempt_price(attempt, result.billing)
    attempt.image_mime = result.mime_type
    attempt.sent = result.sent
    attempt.seed_honoured = result.seed_used is not None and result.seed_used == attempt.seed
    attempt.vendor_request_id = result.vendor_request_id
    attempt.timings_ms = timings
    fields: dict[str, object] = {
        "image": attempt.image.name,
        "cost_usd": attempt.cost_usd,
        "price_source": attempt.price_source,
        "image_mime": attempt.image_mime,
        "sent": attempt.sent,
        "seed_honoured": attempt.seed_honoured,
        "vendor_request_id": attempt.vendor_request_id,
        "timings_ms": timings,
    }
    verify = bool(job.tier.verify_ocr and job.texts)
    if verify:
        fields["status"] = AttemptStatus.VERIFYING
    else:
        # Nothing to verify: straight to PASSED in the same statement and transaction as the
        # store (one UPDATE and one commit instead of VERIFYING, then PASSED, then the verdict).
        fields.update(status=AttemptStatus.PASSED, finished_at=timezone.now())
    fields["lease_until"] = None
    with transaction.atomic():
        engine_call_save(result.health_record)
        # A plain conditional UPDATE (apps.core.hotsql), as the claim: one per attempt.
        if rows_update(RenderAttempt, values=fields, where={"id": attempt.pk, "status": AttemptStatus.RUNNING}) != 1:
            RenderAttempt.objects.filter(pk=attempt.pk).update(
                cost_usd=attempt.cost_usd, price_source=attempt.price_source
            )
            attempt_book(attempt)  # the vendor billed it all the same
            log.warning("attempt %s answered after its lease ran out; its image is not used", attempt.pk)
            return
        attempt.status = AttemptStatus.VERIFYING if verify else AttemptStatus.PASSED
        attempt.finished_at = None if verify else fields["finished_at"]  # type: ignore[assignment]
        attempt_book(attempt)
        if not verify:
            attempt_conclude(attempt, status=AttemptStatus.PASSED, recorded=True)
    if verify:
        transaction.on_commit(lambda: enqueue.attempt_verify(attempt), robust=True)


def _attempt_price(attempt: RenderAttempt, billing: Billing | None) -> None:
    """Set the attempt's cost_usd and price_source from what the vendor billed. An unknown
    price is booked at $0 and flagged (price_source "unknown"), never passed off as free."""
    price = pricing.price_attempt(attempt.engine, billing)
    attempt.cost_usd = price.usd if price.usd is not None else Decimal("0")
    attempt.price_source = price.source
    if price.source == "unknown":
        log.warning("attempt %s: %s billed a call that could not be priced", attempt.pk, attempt.engine.slug)


def _attempt_book_failed_call(attempt: RenderAttempt, billing: Billing) -> None:
    """A call that failed after the vendor billed it (Ideogram's unsafe image, an image URL
    that could not be downloaded, bytes that are not an image) costs what it billed: priced
    like a delivered image and booked on the job and the ledger; never shown as $0."""
    _attempt_price(attempt, billing)
    with transaction.atomic():
        if RenderAttempt.objects.filter(pk=attempt.pk, status=AttemptStatus.RUNNING).update(
            cost_usd=attempt.cost_usd, price_source=attempt.price_source
        ):
            attempt_book(attempt)


def _attempt_flag_possibly_billed(attempt: RenderAttempt) -> None:
    """A paid call that reached the vendor and never answered (a read timeout, a dropped
    connection) may have been billed: its price is unknown (price_source "unknown", shown on
    the job page and in the API), not $0. Nothing is booked, since nothing is known."""
    attempt.price_source = "unknown"
    RenderAttempt.objects.filter(pk=attempt.pk, status=AttemptStatus.RUNNING).update(price_source="unknown")


def attempt_book(attempt: RenderAttempt) -> None:
    """The attempt's cost, the moment it is known, on its job (actual = the sum of its
    attempts in every state) and on the ledger (spent = the sum of billed attempts)."""
    if attempt.cost_usd <= 0:
        return
    RenderJob.objects.filter(pk=attempt.job_id).update(actual_cost_usd=F("actual_cost_usd") + attempt.cost_usd)
    policy.budget_spend(ref=str(attempt.job.public_id), amount_usd=attempt.cost_usd)


def attempt_fail(attempt: RenderAttempt, *, kind: str, message: str, timings: dict, refused: bool = False) -> None:
    """End an attempt with an engine error and decide what the job does next."""
    with transaction.atomic():
        if (
            RenderAttempt.objects.filter(pk=attempt.pk, status=AttemptStatus.RUNNING).update(
                status=AttemptStatus.ERROR,
                error_kind=kind,
                error=message,
                timings_ms=timings,
                finished_at=timezone.now(),
            )
            != 1
        ):
            return
        job = RenderJob.objects.select_related("tier").get(pk=attempt.job_id)
        before_preview = job.status in (JobStatus.PREVIEWING, JobStatus.PREVIEW_READY)
        if attempt.stage == Stage.FINAL and job.auto_final and before_preview:
            job_to_final_stage(job, reason=f"The final, started beside the preview, failed ({kind}).")
        if job.status != (JobStatus.PREVIEWING if attempt.stage == Stage.PREVIEW else JobStatus.RENDERING):
            return  # the job has moved on (a hedge rival answered first): this error decides nothing
        if preview_rival_pending(attempt):
            return  # a hedged preview: the other attempt may still answer
        if attempt.stage == Stage.PREVIEW and job.auto_final and final_in_flight(job):
            if refused:  # the final asks the same of an engine: stop what has not started yet
                job.attempts.filter(stage=Stage.FINAL, status=AttemptStatus.QUEUED).update(
                    status=AttemptStatus.CANCELLED, finished_at=timezone.now(), error="The preview was refused."
                )
                if final_in_flight(job):
                    return  # the running final still answers and decides
                job_finish(job, to=JobStatus.FAILED, reason=f"The engine refused this request: {message}")
                return
            job_to_final_stage(job, reason=f"The preview failed ({kind}: {message}); the final is rendering.")
            return
        failed = attempt.engine
        if refused:
            job_finish(job, to=JobStatus.FAILED, reason=f"The engine refused this request: {message}")
            return
        if kind == MisconfiguredError.kind:
            # A bad key, a retired or unknown model: another engine would only hide it.
            job_finish(
                job,
                to=JobStatus.FAILED,
                reason=f"{failed.name} is misconfigured ({message}); not falling back: an admin must fix the engine.",
            )
            return
        fallback, why_not = policy.fallback_for(tier=job.tier, failed=failed, pinned=job.engine_id is not None)
        if fallback is None or fallback.pk == failed.pk or job.attempts.count() >= job.tier.max_attempts:
            why = f"; no fallback: {why_not}" if why_not else ""
            job_finish(job, to=JobStatus.FAILED, reason=f"{failed.name} failed ({kind}): {message}{why}")
            return
        # A failed call that billed nothing leaves its hold for the fallback, which holds only
        # the difference first; one that billed (booked above) used its hold up.
        extra = policy.engine_price(engine=fallback, width=job.width, height=job.height, quality=job.tier.quality)
        if attempt.cost_usd <= 0:
            extra -= policy.engine_price(engine=failed, width=job.width, height=job.height, quality=job.tier.quality)
        if extra > 0 and not policy.budget_extend(ref=str(job.public_id), amount_usd=extra):
            job_finish(
                job,
                to=JobStatus.FAILED,
                reason=f"{failed.name} failed ({kind}): {message}; the fallback {fallback.name} costs "
                f"${extra:.4f} more and today's {job.tier.name} budget cannot hold it.",
            )
            return
        attempt_start(
            job,
            stage=attempt.stage,
            engine=fallback,
            guidance=attempt.guidance,
            step="fallback",
            reason=f"{failed.name} failed ({kind}: {message}); trying the fallback engine {fallback.name}.",
        )
