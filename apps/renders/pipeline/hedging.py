"""Hedged previews (tail latency): a second preview on the fallback engine when the first has
not answered within the tier's latency budget; the first answer wins, the other is cancelled."""

import logging

from django.db import transaction
from django.utils import timezone

from apps.policy import services as policy
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, Stage
from apps.renders.pipeline import enqueue
from apps.renders.pipeline.attempts import attempt_start
from apps.renders.pipeline.state import TransitionError

log = logging.getLogger(__name__)


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
    # Never a simulation standing in for a vendor (unless the tier allows it), nor another
    # engine for a job pinned to one.
    fallback, _ = policy.fallback_for(tier=tier, failed=attempt.engine, pinned=job.engine_id is not None)
    if job.status != JobStatus.PREVIEWING or not tier.hedge_previews or fallback is None:
        return None
    if job.attempts.filter(stage=Stage.PREVIEW, step="hedge").exists():
        return None
    if attempt.status != AttemptStatus.RUNNING or attempt.started_at is None:
        return None
    budget_s = tier.max_latency_ms / 1000
    running_s = (timezone.now() - attempt.started_at).total_seconds()
    if running_s < budget_s:  # delivered early (clocks, redelivery): look again when it is due
        enqueue.preview_hedge(attempt, countdown=budget_s - running_s)
        return None
    price = policy.engine_price(engine=fallback, width=job.width, height=job.height, quality=tier.quality)
    try:
        # One transaction: a preview that concludes between the checks above and the start
        # (its own worker moves the job on) leaves neither a hedge nor its budget hold behind.
        with transaction.atomic():
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
    except TransitionError:
        log.info("the preview of job %s answered while its hedge was starting: no hedge", job.pk)
        return None


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
