"""Periodic recovery: attempts whose message or worker was lost, and deferred jobs whose time
has come (admission decides again)."""

import logging
from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.policy import services as policy
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob, Stage
from apps.renders.pipeline import enqueue
from apps.renders.pipeline.attempts import attempt_start
from apps.renders.pipeline.hedging import preview_rival_pending
from apps.renders.pipeline.state import job_finish, job_transition
from apps.renders.pipeline.submit import admission_inputs, job_admission_decide, job_start

log = logging.getLogger(__name__)


def sweep_stuck(*, queued_after_s: int = 120, running_after_s: int | None = None) -> dict[str, int]:
    """Recover attempts whose message or worker was lost.

    QUEUED too long → enqueue again (the claim makes a duplicate harmless). RUNNING whose
    lease ran out (its worker stopped renewing it: killed, or cut off) → ERROR "worker lost"
    and a new attempt of the same stage on the same engine (`attempt_retry_lost`); a RUNNING
    row without a lease counts as lost after the task's hard time limit. VERIFYING with no
    result too long → enqueue verification again. Indexed queries only (status + lease_until,
    status + created_at), so it can run every few seconds.
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
        recover("requeued", attempt, resend(enqueue.attempt_run))
    no_lease_cutoff = now - timezone.timedelta(seconds=running_after_s)
    for attempt in RenderAttempt.objects.filter(
        Q(lease_until__lt=now) | Q(lease_until__isnull=True, started_at__lt=no_lease_cutoff),
        status=AttemptStatus.RUNNING,
    ).select_related("engine"):
        recover("lost", attempt, attempt_retry_lost)
    for attempt in RenderAttempt.objects.filter(
        not_resent_lately, status=AttemptStatus.VERIFYING, verification__isnull=True, started_at__lt=cutoff
    ):
        recover("reverified", attempt, resend(enqueue.attempt_verify))
    return counts


def sweep_after_worker_crash() -> dict[str, int]:
    """The only worker died (the embedded default, `run_embedded`): the messages it had taken
    from the broker died with it, so every QUEUED attempt and every VERIFYING one without a
    result is sent again now instead of after RENDERHUB_REQUEUE_AFTER_S, 120 s (a duplicate is
    harmless: the claim and the verification's own check drop it). RUNNING attempts are left
    to their lease, which runs out within RENDERHUB_LEASE_S. Counts as `sweep_stuck`'s."""
    return sweep_stuck(queued_after_s=0)


def attempt_retry_lost(attempt: RenderAttempt) -> None:
    """An attempt whose worker is gone: ERROR "worker_lost", then the same stage again on
    the same engine (a lost final never falls back to the preview engine; a lost preview is
    retried, not failed). After RENDERHUB_LOST_RETRIES lost attempts the job fails instead.

    Conditional on the lease still being expired: a renewal that lands first wins."""
    now = timezone.now()
    lease_s = settings.RENDERHUB_LEASE_S
    message = (
        f"The worker running this attempt was lost: it stopped renewing its {lease_s:g} s lease."
        if attempt.lease_until
        else "The worker running this attempt was lost."
    )
    with transaction.atomic():
        still_lost = Q(lease_until__lt=now) | Q(lease_until__isnull=True)
        if (
            RenderAttempt.objects.filter(still_lost, pk=attempt.pk, status=AttemptStatus.RUNNING).update(
                status=AttemptStatus.ERROR, error_kind="worker_lost", error=message, finished_at=now
            )
            != 1
        ):
            return
        job = RenderJob.objects.select_related("tier").get(pk=attempt.job_id)
        # A final started beside the preview runs while the job is still at its preview.
        beside_preview = (
            attempt.stage == Stage.FINAL
            and job.auto_final
            and job.status in (JobStatus.PREVIEWING, JobStatus.PREVIEW_READY)
        )
        if not beside_preview and job.status != (
            JobStatus.PREVIEWING if attempt.stage == Stage.PREVIEW else JobStatus.RENDERING
        ):
            return  # the job has moved on (a hedge rival answered first)
        if preview_rival_pending(attempt):
            return  # a hedged preview: the other attempt may still answer
        lost = job.attempts.filter(error_kind="worker_lost").count()
        if lost > settings.RENDERHUB_LOST_RETRIES:
            job_finish(job, to=JobStatus.FAILED, reason=f"{lost} attempts lost their worker; giving up. {message}")
            return
        attempt_start(
            job,
            stage=attempt.stage,
            engine=attempt.engine,
            guidance=attempt.guidance,
            step="lost",
            seed=attempt.seed,
            move_job=not beside_preview,
            reason=f"Attempt {attempt.number} lost its worker (no lease renewal for {lease_s:g} s); "
            f"retrying the {attempt.stage} on {attempt.engine.name}.",
        )


def _budget_deferrals_bring_forward() -> None:
    """Make due today the jobs deferred to the next budget day that their tier's budget now
    has room for (an admin raised the limit, or holds were freed), oldest first while their
    estimates fit: without this they waited for midnight whatever the budget said. Admission
    still decides each one again. Team budgets are left to admission (it re-defers)."""
    reset = policy.budget_reset_at()
    waiting = RenderJob.objects.filter(status=JobStatus.DEFERRED, defer_until__gte=reset).order_by("created_at")
    room: dict[int, Decimal] = {}
    due: list[int] = []
    for job in waiting.select_related("tier", "requested_tier"):
        tier = job.requested_tier or job.tier
        if tier.pk not in room:
            ledger = policy.ledger_for(tier=tier)
            room[tier.pk] = ledger.limit_usd - ledger.spent_usd - ledger.reserved_usd
        if job.estimated_cost_usd <= room[tier.pk]:
            room[tier.pk] -= job.estimated_cost_usd
            due.append(job.pk)
    if due:
        RenderJob.objects.filter(pk__in=due, status=JobStatus.DEFERRED).update(defer_until=timezone.now())


def jobs_release_deferred() -> int:
    """Start DEFERRED jobs whose time has come, after admission decides again."""
    _budget_deferrals_bring_forward()
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
        inputs = admission_inputs(tier=tier, with_preview=job.with_preview)
        decision = job_admission_decide(job, tier=tier, inputs=inputs)
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
