"""Periodic recovery: attempts whose message or worker was lost, and deferred jobs whose time
has come (admission decides again)."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.policy import services as policy
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob
from apps.renders.pipeline import enqueue
from apps.renders.pipeline.run import attempt_fail
from apps.renders.pipeline.state import job_transition
from apps.renders.pipeline.submit import admission_inputs, job_admission_decide, job_start

log = logging.getLogger(__name__)


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
        recover("requeued", attempt, resend(enqueue.attempt_run))
    for attempt in RenderAttempt.objects.filter(
        status=AttemptStatus.RUNNING, started_at__lt=now - timezone.timedelta(seconds=running_after_s)
    ).select_related("engine"):
        recover("lost", attempt, _fail_lost)
    for attempt in RenderAttempt.objects.filter(
        not_resent_lately, status=AttemptStatus.VERIFYING, verification__isnull=True, started_at__lt=cutoff
    ):
        recover("reverified", attempt, resend(enqueue.attempt_verify))
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
