"""The render pipeline's writes: submission, the job state machine, attempts and their outcome.

Celery tasks (tasks.py) are a thin interface over `attempt_run` and `attempt_verify`.
Every function here is idempotent by state, so a redelivered task does no harm.
"""

import logging
import secrets
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from apps.catalog.models import Template
from apps.catalog.services import ResolvedPrompt, template_resolve
from apps.engines.models import Engine
from apps.engines.prompts import quoted_texts
from apps.engines.services import engine_generate
from apps.engines.types import EngineError, EngineRequest, RefusedError
from apps.policy import services as policy
from apps.policy.models import Tier
from apps.renders.compositor import composite_text
from apps.renders.models import (
    TERMINAL_STATUSES,
    AttemptStatus,
    JobEvent,
    JobStatus,
    RenderAttempt,
    RenderJob,
    Stage,
)
from apps.renders.outcomes import delivered_reason, preview_ready_reason
from apps.renders.text_checks import texts_problems
from apps.verification.gate import verify_image
from apps.verification.services import verification_record

log = logging.getLogger(__name__)

MAX_SEED = 2**31 - 1

ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    JobStatus.QUEUED: {
        JobStatus.PREVIEWING,
        JobStatus.RENDERING,
        JobStatus.DEFERRED,
        JobStatus.REFUSED,
        JobStatus.FAILED,
    },
    JobStatus.DEFERRED: {JobStatus.QUEUED, JobStatus.REFUSED, JobStatus.FAILED},
    JobStatus.PREVIEWING: {JobStatus.PREVIEW_READY, JobStatus.PREVIEWING, JobStatus.FAILED},
    JobStatus.PREVIEW_READY: {JobStatus.RENDERING, JobStatus.FAILED},
    JobStatus.RENDERING: {JobStatus.RENDERING, JobStatus.DELIVERED, JobStatus.NEEDS_REVIEW, JobStatus.FAILED},
    JobStatus.NEEDS_REVIEW: {JobStatus.DELIVERED, JobStatus.REJECTED, JobStatus.RENDERING},
    JobStatus.DELIVERED: set(),
    JobStatus.REJECTED: set(),
    JobStatus.REFUSED: set(),
    JobStatus.FAILED: set(),
}


class TransitionError(Exception):
    pass


class SubmissionError(ValueError):
    """Bad input to `job_submit`; `errors` maps field → message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def job_transition(job: RenderJob, *, to: str, reason: str = "", by: AbstractBaseUser | None = None) -> bool:
    """Move `job` to `to` if that move is allowed from its current status.

    The update is conditional on the status the caller saw, so of two racing callers
    only one wins; the loser gets False and changes nothing. Writes a JobEvent.
    """
    current = job.status
    if to not in ALLOWED_TRANSITIONS[current]:
        raise TransitionError(f"A job cannot go from {current} to {to}.")
    now = timezone.now()
    fields: dict[str, object] = {"status": to, "status_reason": reason, "updated_at": now}
    if to == JobStatus.PREVIEW_READY:
        fields["preview_ready_at"] = now
    if to in TERMINAL_STATUSES:
        fields["finished_at"] = now
    if RenderJob.objects.filter(pk=job.pk, status=current).update(**fields) != 1:
        return False
    for name, value in fields.items():
        setattr(job, name, value)
    JobEvent.objects.create(job=job, from_status=current, to_status=to, reason=reason, actor=by)
    return True


def parse_size(value: str) -> tuple[int, int]:
    """'768x512' → (768, 512), within the configured limits; ValueError says what is wrong."""
    try:
        w_text, h_text = str(value).lower().split("x")
        width, height = int(w_text), int(h_text)
    except (ValueError, AttributeError):
        raise ValueError(f"Size must look like 768x512 (got {value!r}).") from None
    limit = settings.RENDERHUB_MAX_SIDE
    if not (64 <= width <= limit and 64 <= height <= limit):
        raise ValueError(f"Each side must be between 64 and {limit} pixels (got {width}x{height}).")
    return width, height


def _resolve(*, template: Template, texts: dict[str, str]) -> ResolvedPrompt:
    """The template's prompt with `texts` in its slots; SubmissionError names what is wrong."""
    try:
        return template_resolve(template=template, texts=texts)
    except ValueError as exc:
        raise SubmissionError(getattr(exc, "errors", {"texts": str(exc)})) from exc


def job_submit(
    *,
    submitted_by: AbstractBaseUser,
    tier: Tier | None = None,
    asset_class: str = "",
    template: Template | None = None,
    texts: dict[str, str] | None = None,
    prompt: str = "",
    seed: int | None = None,
    width: int | None = None,
    height: int | None = None,
    engine: Engine | None = None,
    source: str = "web",
    with_preview: bool = True,
) -> RenderJob:
    """Validate, admit and create a job; enqueue its first attempt after the commit.

    Either a template (with its slot texts) or a free prompt. The tier comes from the
    argument, else from the asset class's routing. Admission may admit, degrade (another
    tier), defer or refuse; the decision and its reason are stored on the job. Raises
    SubmissionError for bad input (nothing is written then).
    """
    errors: dict[str, str] = {}
    if template is not None:
        resolved = _resolve(template=template, texts=texts or {})
        job_prompt, job_texts, regions = resolved.prompt, resolved.texts, resolved.regions
        negative = template.negative_prompt
        width, height = width or template.width, height or template.height
        asset_class = asset_class or template.asset_class
    else:
        job_prompt = " ".join(prompt.split())
        if not job_prompt:
            errors["prompt"] = "A prompt is required."
        job_texts = dict(texts) if texts else {f"text{i + 1}": t for i, t in enumerate(quoted_texts(job_prompt))}
        regions, negative = {}, ""
        if not width or not height:
            width, height = 768, 512
    asset_class = asset_class or "editorial"
    if tier is None:
        tier = policy.tier_for_asset_class(asset_class=asset_class)
        if tier is None:
            errors["asset_class"] = f"No tier is routed for asset class {asset_class!r}."
    errors.update(texts_problems(texts=job_texts, tier=tier, from_prompt=template is None and not texts))
    if seed is None:
        seed = secrets.randbelow(MAX_SEED)
    elif not 0 <= seed <= MAX_SEED:
        errors["seed"] = f"Seed must be between 0 and {MAX_SEED}."
    if errors:
        raise SubmissionError(errors)
    assert tier is not None and width is not None and height is not None
    inputs = admission_inputs(tier=tier, with_preview=with_preview)

    with transaction.atomic():
        job = RenderJob.objects.create(
            template=template,
            texts=job_texts,
            prompt=job_prompt,
            negative_prompt=negative,
            regions=regions,
            seed=seed,
            width=width,
            height=height,
            tier=tier,
            requested_tier=tier,
            asset_class=asset_class,
            engine=engine,
            source=source,
            with_preview=with_preview,
            submitted_by=submitted_by,
        )
        decision = _admission_decide(job, tier=tier, inputs=inputs)
        job.admission, job.admission_reason = decision.outcome, decision.reason
        job.estimated_cost_usd = decision.estimate_usd
        job.tier = decision.tier or tier
        job.auto_final = job.tier.auto_final or not with_preview
        job.defer_until = decision.defer_until
        job.save(
            update_fields=["admission", "admission_reason", "estimated_cost_usd", "tier", "auto_final", "defer_until"]
        )
        JobEvent.objects.create(job=job, to_status=JobStatus.QUEUED, reason=decision.reason, actor=submitted_by)
        if decision.outcome == policy.Outcome.REFUSE:
            job_transition(job, to=JobStatus.REFUSED, reason=decision.reason)
        elif decision.outcome == policy.Outcome.DEFER:
            job_transition(job, to=JobStatus.DEFERRED, reason=decision.reason)
        else:
            job_start(job)
    return job


def _queue_load(*, tier: Tier, stage: str) -> tuple[int, float | None]:
    """(attempts waiting, attempts finished per second lately) on the queue `tier` sends
    `stage` attempts to, counting every tier that shares that queue."""
    field = "preview_queue" if stage == Stage.PREVIEW else "final_queue"
    default = settings.RENDERHUB_QUEUES["preview" if stage == Stage.PREVIEW else "final"]
    queue = getattr(tier, field) or default
    tier_ids = [pk for pk, name in Tier.objects.values_list("pk", field) if (name or default) == queue]
    on_queue = RenderAttempt.objects.filter(stage=stage, job__tier_id__in=tier_ids)
    depth = on_queue.filter(status=AttemptStatus.QUEUED).count()
    now = timezone.now()
    recent = on_queue.filter(finished_at__gte=now - timezone.timedelta(seconds=60)).aggregate(
        n=Count("pk"), first=Min("finished_at")
    )
    if recent["n"] < 5:  # too few to measure a rate
        return depth, None
    # Over the time the queue has actually been finishing work (≤ 60 s), not the whole window,
    # so a burst's first seconds are not mistaken for a slow queue.
    elapsed = max((now - recent["first"]).total_seconds(), 1.0)
    return depth, recent["n"] / elapsed


def _admission_decide(job: RenderJob, *, tier: Tier, inputs: dict[str, Any]) -> policy.AdmissionDecision:
    """Admission for `job` on `tier` (at submission, and again when a deferred job's time comes)."""
    return policy.admission_decide(
        tier=tier,
        engine=job.engine,
        width=job.width,
        height=job.height,
        asset_class=job.asset_class,
        ref=str(job.public_id),
        template=job.template.slug if job.template else "",
        with_preview=job.with_preview,
        team=policy.team_for_user(user=job.submitted_by),
        **inputs,
    )


def admission_inputs(*, tier: Tier, with_preview: bool = True) -> dict[str, Any]:
    """What admission needs to know about the queues a job will wait on: the first stage's
    queue, and for a tier that renders its final right after the preview, the final queue."""
    depth, rate = _queue_load(tier=tier, stage=Stage.PREVIEW if with_preview else Stage.FINAL)
    inputs: dict[str, Any] = {"queue_depth": depth, "throughput_per_s": rate}
    if with_preview and tier.auto_final:
        inputs["final_queue_depth"], inputs["final_throughput_per_s"] = _queue_load(tier=tier, stage=Stage.FINAL)
    return inputs


def job_start(job: RenderJob) -> RenderAttempt:
    """Create and enqueue the first attempt of an admitted job (QUEUED → PREVIEWING|RENDERING)."""
    if job.with_preview:
        return attempt_start(job, stage=Stage.PREVIEW, engine=job.engine or job.tier.preview_engine)
    return attempt_start(job, stage=Stage.FINAL, engine=job.engine or job.tier.final_engine)


class BudgetError(Exception):
    """Today's budget cannot hold what was asked for; the message says so in plain words."""


def job_request_final(job: RenderJob, *, by: AbstractBaseUser | None = None) -> RenderAttempt:
    """The editor asks for the final render of a previewed job (same seed, final engine).

    The job's hold was trimmed to what the preview cost when it came to rest, so the final's
    expected cost is held again first; BudgetError when today's budget cannot hold it."""
    if job.status != JobStatus.PREVIEW_READY:
        raise TransitionError("Only a job whose preview is ready can be sent to final rendering.")
    engine = job.engine or job.tier.final_engine
    estimate = policy.cost_estimate(
        tier=job.tier,
        engine=engine,
        width=job.width,
        height=job.height,
        template=job.template.slug if job.template else "",
        with_preview=False,
    ).total_usd
    with transaction.atomic():
        if not policy.budget_extend(ref=str(job.public_id), amount_usd=estimate):
            raise BudgetError(
                f"Today's budget for the {job.tier.name} tier cannot hold the final render "
                f"(about ${estimate:.2f}); try again after the budget resets or ask an admin."
            )
        return attempt_start(job, stage=Stage.FINAL, engine=engine, by=by)


def attempt_prompt(job: RenderJob, *, guidance: int) -> str:
    """The prompt for a guidance level: level ≥ 1 adds the template's guidance tokens and an
    explicit exact-text clause."""
    if guidance < 1 or not job.texts:
        return job.prompt
    tokens = job.template.guidance_tokens if job.template else ""
    exact = ", ".join(f'"{text}"' for text in job.texts.values())
    clause = f"Typography must read exactly {exact}, spelled letter for letter, with no other text."
    return " ".join(part for part in (job.prompt, tokens, clause) if part)


def attempt_start(
    job: RenderJob,
    *,
    stage: str,
    engine: Engine,
    guidance: int = 0,
    step: str = "initial",
    reason: str = "",
    seed: int | None = None,
    by: AbstractBaseUser | None = None,
) -> RenderAttempt:
    """Create the job's next attempt, move the job to the stage's status and enqueue the
    engine call once the transaction commits.

    Raises TransitionError when the job's status is no longer the one the caller decided on
    (`job.status`): two people asking for the same final must not start two."""
    target = JobStatus.PREVIEWING if stage == Stage.PREVIEW else JobStatus.RENDERING
    with transaction.atomic():
        locked = RenderJob.objects.select_for_update().get(pk=job.pk)
        if locked.status != job.status:
            raise TransitionError("The job changed while the attempt was being queued.")
        number = (locked.attempts.aggregate(n=Max("number"))["n"] or 0) + 1
        attempt = RenderAttempt.objects.create(
            job=locked,
            number=number,
            stage=stage,
            engine=engine,
            guidance=guidance,
            step=step,
            reason=reason,
            prompt=attempt_prompt(locked, guidance=guidance),
            seed=job.seed if seed is None else seed,
            requested_size=f"{job.width}x{job.height}",
        )
        note = reason or f"{stage.title()} attempt {number} queued."
        if job.status != target and not job_transition(job, to=target, reason=note, by=by):
            raise TransitionError("The job changed while the attempt was being queued.")
        # robust: a broker outage must not fail the request; the sweeper re-enqueues QUEUED attempts.
        transaction.on_commit(lambda: _enqueue_run(attempt), robust=True)
    return attempt


def queue_for(attempt: RenderAttempt) -> str:
    tier = attempt.job.tier
    if attempt.stage == Stage.PREVIEW:
        return tier.preview_queue or settings.RENDERHUB_QUEUES["preview"]
    return tier.final_queue or settings.RENDERHUB_QUEUES["final"]


def _enqueue_run(attempt: RenderAttempt) -> None:
    from apps.renders.tasks import run_attempt

    run_attempt.apply_async(kwargs={"attempt_id": attempt.pk}, queue=queue_for(attempt))


def _enqueue_hedge(attempt: RenderAttempt, *, countdown: float | None = None) -> None:
    from apps.renders.tasks import hedge_preview

    if countdown is None:
        countdown = attempt.job.tier.max_latency_ms / 1000
    hedge_preview.apply_async(kwargs={"attempt_id": attempt.pk}, queue=queue_for(attempt), countdown=countdown)


def _enqueue_verify(attempt: RenderAttempt) -> None:
    from apps.renders.tasks import verify_attempt

    verify_attempt.apply_async(kwargs={"attempt_id": attempt.pk}, queue=settings.RENDERHUB_QUEUES["verify"])


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def attempt_run(*, attempt_id: int) -> None:
    """Call the engine for a QUEUED attempt, store its image, then hand it to verification.

    Claims the attempt with a conditional update (QUEUED → RUNNING): a redelivered task
    finds it claimed and does nothing. Engine errors end the attempt as ERROR with the
    error's kind; the job then falls back or fails with the reason.
    """
    now = timezone.now()
    if (
        RenderAttempt.objects.filter(pk=attempt_id, status=AttemptStatus.QUEUED).update(
            status=AttemptStatus.RUNNING, started_at=now
        )
        != 1
    ):
        log.info("attempt %s is not queued any more; nothing to do", attempt_id)
        return
    attempt = RenderAttempt.objects.select_related("job__template", "job__tier", "engine").get(pk=attempt_id)
    job = attempt.job
    if hedge_allowed(attempt):
        _enqueue_hedge(attempt)  # checks, one latency budget from now, whether this call answered
    timings = {"queue_wait": round((now - attempt.created_at).total_seconds() * 1000, 1)}
    request = EngineRequest(
        prompt=attempt.prompt,
        negative_prompt=job.negative_prompt,
        seed=attempt.seed,
        width=job.width,
        height=job.height,
        guidance=attempt.guidance,
        adapter_ref=job.template.adapter_ref if job.template else "",
        extra={
            "text_regions": [job.regions[name] for name in job.texts if name in job.regions],
            "palette": job.template.palette if job.template else [],
            "quality": job.tier.quality,
        },
    )
    started = time.perf_counter()
    try:
        result = engine_generate(engine=attempt.engine, request=request)
    except EngineError as exc:
        timings["engine"] = _ms_since(started)
        attempt_fail(
            attempt, kind=exc.kind, message=exc.message, timings=timings, refused=isinstance(exc, RefusedError)
        )
        return
    timings["engine"] = _ms_since(started)
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
        timings["composite"] = _ms_since(started)
    started = time.perf_counter()
    extension = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}.get(result.mime_type, "bin")
    name = f"{job.public_id}-{attempt.number}-{secrets.token_hex(8)}.{extension}"
    attempt.image.save(name, ContentFile(image), save=False)
    timings["store"] = _ms_since(started)
    price = policy.engine_price(engine=attempt.engine, width=job.width, height=job.height, quality=job.tier.quality)
    attempt.cost_usd = price * Decimal(str(result.billed_units))
    attempt.image_mime = result.mime_type
    attempt.sent = result.sent
    attempt.seed_honoured = result.seed_used is not None and result.seed_used == attempt.seed
    attempt.vendor_request_id = result.vendor_request_id
    attempt.timings_ms = timings
    attempt.status = AttemptStatus.VERIFYING
    attempt.save(
        update_fields=[
            "image",
            "cost_usd",
            "image_mime",
            "sent",
            "seed_honoured",
            "vendor_request_id",
            "timings_ms",
            "status",
        ]
    )
    if job.tier.verify_ocr and job.texts:
        transaction.on_commit(lambda: _enqueue_verify(attempt), robust=True)
    else:
        attempt_conclude(attempt, status=AttemptStatus.PASSED)


def attempt_verify(*, attempt_id: int) -> None:
    """Run the verification gate on a VERIFYING attempt, record the result, conclude it."""
    attempt = (
        RenderAttempt.objects.select_related("job__template", "job__tier", "engine")
        .filter(pk=attempt_id, status=AttemptStatus.VERIFYING, verification__isnull=True)
        .first()
    )
    if attempt is None:
        log.info("attempt %s is not waiting for verification; nothing to do", attempt_id)
        return
    job = attempt.job
    started = time.perf_counter()
    with attempt.image.open("rb") as fh:
        image = fh.read()
    report = verify_image(
        image=image,
        expected=job.texts,
        regions=job.regions,
        thresholds=job.template.verify_thresholds if job.template else None,
        palette=job.template.palette if job.template else [],
        size=(job.width, job.height),
    )
    with transaction.atomic():
        result = verification_record(report=report, expected=job.texts)
        if RenderAttempt.objects.filter(pk=attempt.pk, verification__isnull=True).update(verification=result) != 1:
            return
        attempt.verification = result
        attempt.timings_ms = {**attempt.timings_ms, "verify": _ms_since(started)}
        attempt.save(update_fields=["timings_ms"])
        status = {"pass": AttemptStatus.PASSED, "review": AttemptStatus.REVIEW}.get(
            report.verdict, AttemptStatus.FAILED
        )
        attempt_conclude(attempt, status=status)


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
        if job.status != (JobStatus.PREVIEWING if attempt.stage == Stage.PREVIEW else JobStatus.RENDERING):
            return  # the job has moved on (a hedge rival answered first): this error decides nothing
        if preview_rival_pending(attempt):
            return  # a hedged preview: the other attempt may still answer
        fallback = job.tier.fallback_engine
        made = job.attempts.count()
        if refused:
            job_finish(job, to=JobStatus.FAILED, reason=f"The engine refused this request: {message}")
        elif fallback and fallback.pk != attempt.engine_id and made < job.tier.max_attempts:
            attempt_start(
                job,
                stage=attempt.stage,
                engine=fallback,
                guidance=attempt.guidance,
                step="fallback",
                reason=f"{attempt.engine.name} failed ({kind}: {message}); trying the fallback engine.",
            )
        else:
            job_finish(job, to=JobStatus.FAILED, reason=f"{attempt.engine.name} failed ({kind}): {message}")


def attempt_conclude(attempt: RenderAttempt, *, status: str) -> None:
    """Record an attempt's verdict and move the job on.

    Preview: the job's preview is ready (whatever the verdict, which the editor sees);
    auto-final tiers go straight on. Final: pass → delivered; review → moderation;
    fail → the tier's escalation ladder (a new attempt) or moderation.
    """
    with transaction.atomic():
        RenderAttempt.objects.filter(pk=attempt.pk).update(status=status, finished_at=timezone.now())
        attempt.status = status
        job = RenderJob.objects.select_related("tier", "template").get(pk=attempt.job_id)
        if attempt.stage == Stage.PREVIEW:
            # The transition is the race: of two previews concluding at once only one moves the
            # job on; the other lost, even though it saw PREVIEWING when it read the job.
            won = job.status == JobStatus.PREVIEWING and job_transition(
                job, to=JobStatus.PREVIEW_READY, reason=preview_ready_reason(attempt)
            )
            if won:
                preview_hedge_won(attempt)
                if job.auto_final:
                    attempt_start(
                        job,
                        stage=Stage.FINAL,
                        engine=job.engine or job.tier.final_engine,
                        reason="Final render queued automatically for this tier.",
                    )
                else:
                    _book_resting_preview(job)
            elif job.attempts.filter(stage=Stage.PREVIEW).exclude(pk=attempt.pk).exists():
                preview_hedge_lost(attempt)
                if job.status == JobStatus.PREVIEW_READY and not job.auto_final:
                    _book_resting_preview(job)  # the loser's cost, too
            return
        if job.status != JobStatus.RENDERING:
            return
        if status == AttemptStatus.PASSED:
            job_finish(job, to=JobStatus.DELIVERED, reason=delivered_reason(attempt))
        elif status == AttemptStatus.REVIEW:
            job_finish(job, to=JobStatus.NEEDS_REVIEW, reason="Verification needs a person to look.")
        else:
            reasons = attempt.verification.reasons if attempt.verification else []
            step = policy.escalation_next(
                tier=job.tier,
                attempts_made=job.attempts.count(),
                last_guidance=attempt.guidance,
                verdict_reasons=reasons,
                ref=str(job.public_id),
                width=job.width,
                height=job.height,
                last_engine=attempt.engine,
            )
            if step.step == "review":
                job_finish(job, to=JobStatus.NEEDS_REVIEW, reason=step.reason)
            else:
                attempt_start(
                    job,
                    stage=Stage.FINAL,
                    engine=step.engine or attempt.engine,
                    guidance=step.guidance,
                    step=step.step,
                    reason=step.reason,
                    seed=(attempt.seed + 1) % MAX_SEED if step.new_seed else attempt.seed,
                )


def _book_resting_preview(job: RenderJob) -> None:
    """The job rests at its preview until the editor asks for the final, maybe never: book
    what its attempts cost and free the rest of the hold (held again on request)."""
    spent = job.attempts.aggregate(total=Sum("cost_usd"))["total"] or Decimal("0")
    policy.budget_book(ref=str(job.public_id), spent_usd=spent)


# --- Hedged previews (tail latency) -----------------------------------------------------


def preview_hedge(*, attempt_id: int) -> RenderAttempt | None:
    """Hedge a preview whose engine call has not answered within its tier's latency budget.

    Runs as a delayed task, `max_latency_ms` after the engine call started (`attempt_run`
    schedules it when it claims the attempt): time spent waiting in the queue is not hedged,
    since a second call would join the same queue and only add load. If the attempt has
    been RUNNING for the budget, the job is still PREVIEWING, the tier allows
    hedging and has a fallback engine, and the budget can hold the extra preview, a second
    preview attempt (step "hedge") starts on the fallback engine. The first answer wins
    (`attempt_conclude`); the other is cancelled (`preview_hedge_won`/`_lost`); both costs
    count. Otherwise a no-op, so a redelivered task does no harm.
    """
    attempt = (
        RenderAttempt.objects.select_related("job__tier__fallback_engine", "engine")
        .filter(pk=attempt_id, stage=Stage.PREVIEW, status__in=[AttemptStatus.QUEUED, AttemptStatus.RUNNING])
        .first()
    )
    if attempt is None:
        return None
    job, tier = attempt.job, attempt.job.tier
    fallback = tier.fallback_engine
    if job.status != JobStatus.PREVIEWING or not tier.hedge_previews or fallback is None:
        return None
    if job.attempts.filter(stage=Stage.PREVIEW, step="hedge").exists():
        return None
    if attempt.status != AttemptStatus.RUNNING or attempt.started_at is None:
        return None
    budget_s = tier.max_latency_ms / 1000
    running_s = (timezone.now() - attempt.started_at).total_seconds()
    if running_s < budget_s:  # delivered early (clocks, redelivery): look again when it is due
        _enqueue_hedge(attempt, countdown=budget_s - running_s)
        return None
    price = policy.engine_price(engine=fallback, width=job.width, height=job.height, quality=tier.quality)
    if not policy.budget_extend(ref=str(job.public_id), amount_usd=price):
        log.info("no budget to hedge the preview of job %s", job.pk)
        return None
    return attempt_start(
        job,
        stage=Stage.PREVIEW,
        engine=fallback,
        guidance=attempt.guidance,
        step="hedge",
        seed=attempt.seed,
        reason=f"{attempt.engine.name} has not answered within {tier.max_latency_ms} ms; "
        f"hedging the preview on {fallback.name} (first answer wins).",
    )


def hedge_allowed(attempt: RenderAttempt) -> bool:
    """A first preview attempt on a tier that hedges previews and has a fallback engine."""
    tier = attempt.job.tier
    return (
        attempt.stage == Stage.PREVIEW
        and attempt.step != "hedge"
        and tier.hedge_previews
        and tier.fallback_engine_id is not None
    )


def preview_rival_pending(attempt: RenderAttempt) -> bool:
    """Whether another preview attempt of the same job is still on its way."""
    return (
        attempt.stage == Stage.PREVIEW
        and RenderAttempt.objects.filter(
            job_id=attempt.job_id,
            stage=Stage.PREVIEW,
            status__in=[AttemptStatus.QUEUED, AttemptStatus.RUNNING, AttemptStatus.VERIFYING],
        )
        .exclude(pk=attempt.pk)
        .exists()
    )


def preview_hedge_won(winner: RenderAttempt) -> None:
    """The winner's rivals that have not reached the engine yet are cancelled (they will not
    run: their claim fails); one already running finishes, costs, and is marked cancelled
    when it concludes."""
    RenderAttempt.objects.filter(job_id=winner.job_id, stage=Stage.PREVIEW, status=AttemptStatus.QUEUED).exclude(
        pk=winner.pk
    ).update(status=AttemptStatus.CANCELLED, finished_at=timezone.now(), error="Another preview answered first.")


def preview_hedge_lost(loser: RenderAttempt) -> None:
    """A preview that answered after its job's preview was already ready lost the race."""
    RenderAttempt.objects.filter(pk=loser.pk).update(
        status=AttemptStatus.CANCELLED, error="Another preview answered first; this one was not used."
    )
    loser.status = AttemptStatus.CANCELLED


def job_finish(job: RenderJob, *, to: str, reason: str, by: AbstractBaseUser | None = None) -> bool:
    """Transition to a resting status and settle the job's cost against its reservation."""
    if not job_transition(job, to=to, reason=reason, by=by):
        return False
    if to == JobStatus.NEEDS_REVIEW:
        return True
    actual = job.attempts.aggregate(total=Sum("cost_usd"))["total"] or Decimal("0")
    RenderJob.objects.filter(pk=job.pk).update(actual_cost_usd=actual)
    job.actual_cost_usd = actual
    policy.budget_settle(ref=str(job.public_id), actual_usd=actual)
    final_attempts = job.attempts.filter(stage=Stage.FINAL)
    last = final_attempts.select_related("engine").last()
    if last is not None:
        policy.cost_record_outcome(
            template=job.template.slug if job.template else "",
            engine=last.engine.slug,
            attempts=final_attempts.count(),
            delivered=to == JobStatus.DELIVERED,
        )
    return True


def sweep_stuck(*, queued_after_s: int = 120, running_after_s: int | None = None) -> dict[str, int]:
    """Recover attempts whose message or worker was lost.

    QUEUED too long → enqueue again (the claim makes a duplicate harmless). RUNNING longer
    than the task's hard time limit → ERROR "worker lost", which falls back or fails the job.
    VERIFYING with no result too long → enqueue verification again.
    """
    now = timezone.now()
    running_after_s = running_after_s or settings.CELERY_TASK_TIME_LIMIT + 60
    counts = {"requeued": 0, "lost": 0, "reverified": 0}

    def recover(kind: str, attempt: RenderAttempt, action: Callable[[RenderAttempt], None]) -> None:
        # One attempt that cannot be recovered must not stop the sweep (and every later one)
        # from recovering the rest.
        try:
            action(attempt)
        except Exception:
            log.exception("sweep: could not recover attempt %s (%s)", attempt.pk, kind)
        else:
            counts[kind] += 1

    cutoff = now - timezone.timedelta(seconds=queued_after_s)
    # Sent again at most once per `queued_after_s`: under a backlog, every sweep re-sending
    # every waiting attempt would flood the broker with (harmless but slot-taking) duplicates.
    not_resent_lately = Q(resent_at__isnull=True) | Q(resent_at__lt=cutoff)

    def resend(send: Callable[[RenderAttempt], None]) -> Callable[[RenderAttempt], None]:
        def action(attempt: RenderAttempt) -> None:
            if RenderAttempt.objects.filter(Q(pk=attempt.pk) & not_resent_lately).update(resent_at=now) == 1:
                send(attempt)

        return action

    for attempt in RenderAttempt.objects.filter(
        not_resent_lately, status=AttemptStatus.QUEUED, created_at__lt=cutoff
    ).select_related("job__tier"):
        recover("requeued", attempt, resend(_enqueue_run))
    for attempt in RenderAttempt.objects.filter(
        status=AttemptStatus.RUNNING, started_at__lt=now - timezone.timedelta(seconds=running_after_s)
    ).select_related("engine"):
        recover("lost", attempt, _fail_lost)
    for attempt in RenderAttempt.objects.filter(
        not_resent_lately, status=AttemptStatus.VERIFYING, verification__isnull=True, started_at__lt=cutoff
    ):
        recover("reverified", attempt, resend(_enqueue_verify))
    return counts


def _fail_lost(attempt: RenderAttempt) -> None:
    attempt_fail(attempt, kind="worker_lost", message="The worker running this attempt was lost.", timings={})


def jobs_release_deferred() -> int:
    """Start DEFERRED jobs whose time has come, after admission decides again."""
    started = 0
    due = RenderJob.objects.filter(status=JobStatus.DEFERRED, defer_until__lte=timezone.now()).select_related(
        "tier", "requested_tier", "template", "submitted_by"
    )
    for job in due:
        # One job that cannot be released must not keep every job behind it deferred forever.
        try:
            started += _job_release(job)
        except Exception:
            log.exception("could not release deferred job %s", job.pk)
    return started


def _job_release(job: RenderJob) -> bool:
    """Admit a due DEFERRED job again: defer it further, refuse it, or start it (True)."""
    with transaction.atomic():
        tier = job.requested_tier or job.tier
        decision = _admission_decide(job, tier=tier, inputs=admission_inputs(tier=tier, with_preview=job.with_preview))
        if decision.outcome == policy.Outcome.DEFER:
            RenderJob.objects.filter(pk=job.pk).update(
                defer_until=decision.defer_until, admission_reason=decision.reason
            )
            return False
        job.tier = decision.tier or job.tier
        job.auto_final = job.tier.auto_final or not job.with_preview  # as job_submit: the tier may have changed
        RenderJob.objects.filter(pk=job.pk).update(
            admission=decision.outcome,
            admission_reason=decision.reason,
            tier=job.tier,
            auto_final=job.auto_final,
            estimated_cost_usd=decision.estimate_usd,
        )
        if decision.outcome == policy.Outcome.REFUSE:
            job_transition(job, to=JobStatus.REFUSED, reason=decision.reason)
            return False
        if job_transition(job, to=JobStatus.QUEUED, reason=decision.reason):
            job_start(job)
            return True
    return False


# --- Moderation ------------------------------------------------------------------------


def job_approve(job: RenderJob, *, by: AbstractBaseUser, reason: str = "") -> bool:
    """A moderator approves a job that needed review: it is delivered as it is."""
    return job_finish(job, to=JobStatus.DELIVERED, reason=reason or f"Approved by {by}.", by=by)


def job_reject(job: RenderJob, *, by: AbstractBaseUser, reason: str) -> bool:
    """A moderator rejects a job that needed review."""
    return job_finish(job, to=JobStatus.REJECTED, reason=f"Rejected by {by}: {reason}", by=by)


def job_force_rerender(
    job: RenderJob,
    *,
    by: AbstractBaseUser,
    texts: dict[str, str] | None = None,
    engine: Engine | None = None,
    guidance: int = 0,
    step: str = "moderator",
    seed: int | None = None,
) -> RenderAttempt:
    """A moderator sends a job back to final rendering with edited texts, another engine,
    stronger guidance, a composite step or a new seed."""
    if job.status != JobStatus.NEEDS_REVIEW:
        raise TransitionError("Only a job that needs review can be re-rendered by a moderator.")
    if texts:
        if job.template is not None:
            resolved = _resolve(template=job.template, texts=texts)
            job.prompt, job.texts = resolved.prompt, resolved.texts
        else:
            job.texts = texts
        job.save(update_fields=["prompt", "texts"])
    return attempt_start(
        job,
        stage=Stage.FINAL,
        engine=engine or job.engine or job.tier.final_engine,
        guidance=guidance,
        step=step,
        seed=seed,
        by=by,
        reason=f"Re-render forced by {by}.",
    )
