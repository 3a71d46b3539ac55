"""Moderation writes: claiming jobs in the queue and the moderator's decisions.

Every decision goes through the renders pipeline (`apps.renders.pipeline`, which owns the job's state machine) and is
written to the audit trail (ModerationDecision). A decision needs the moderator's claim on the
job; claims are taken with one conditional UPDATE so two moderators never work one job.
"""

import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.engines.models import Engine
from apps.moderation.models import JobClaim, ModerationDecision
from apps.moderation.selectors import queue_jobs
from apps.renders.models import JobStatus, RenderAttempt, RenderJob
from apps.renders.pipeline.attempts import MAX_SEED
from apps.renders.pipeline.decisions import job_approve, job_force_rerender, job_reject
from apps.renders.pipeline.state import TransitionError

CLAIM_TTL = timedelta(minutes=15)


class ClaimError(Exception):
    """The job is not (or no longer) this moderator's to decide."""


def _audit(
    job: RenderJob, *, by: AbstractBaseUser, action: str, reason: str = "", details: dict | None = None
) -> ModerationDecision:
    return ModerationDecision.objects.create(job=job, moderator=by, action=action, reason=reason, details=details or {})


def claim_take(*, job: RenderJob, by: AbstractBaseUser) -> bool:
    """Claim `job` for `by` if nobody else holds a live claim on it; True when `by` holds it.

    The row is created unclaimed once, then taken by a conditional UPDATE (free, lapsed, or
    already ours): of two racing moderators exactly one update matches.
    """
    if job.status != JobStatus.NEEDS_REVIEW:
        return False
    now = timezone.now()
    JobClaim.objects.get_or_create(job=job)
    free = Q(moderator__isnull=True) | Q(expires_at__lt=now) | Q(moderator=by)
    held_before = JobClaim.objects.filter(job=job, moderator=by, expires_at__gte=now).exists()
    won = JobClaim.objects.filter(free, job=job).update(moderator=by, claimed_at=now, expires_at=now + CLAIM_TTL) == 1
    if won and not held_before:
        _audit(job, by=by, action=ModerationDecision.Action.CLAIM)
    return won


def claim_release(*, job: RenderJob, by: AbstractBaseUser, audit: bool = True) -> bool:
    """Give a claim back (only the holder can)."""
    released = JobClaim.objects.filter(job=job, moderator=by).update(moderator=None, expires_at=None) == 1
    if released and audit:
        _audit(job, by=by, action=ModerationDecision.Action.RELEASE)
    return released


def claim_next(
    *, by: AbstractBaseUser, jobs: list[RenderJob] | None = None, skip: RenderJob | None = None
) -> RenderJob | None:
    """The job `by` should work next: one already claimed by them, else the oldest free one.

    `jobs` is the (filtered) queue in order; `skip` is released and passed over.
    """
    if skip is not None:
        claim_release(job=skip, by=by)
    candidates = jobs if jobs is not None else list(queue_jobs())
    candidates = [job for job in candidates if skip is None or job.pk != skip.pk]
    now = timezone.now()
    mine = set(
        JobClaim.objects.filter(
            moderator=by, expires_at__gte=now, job__status=JobStatus.NEEDS_REVIEW, job__in=candidates
        ).values_list("job_id", flat=True)
    )
    for job in sorted(candidates, key=lambda j: j.pk not in mine):
        if claim_take(job=job, by=by):
            return job
    return None


def _require_claim(job: RenderJob, by: AbstractBaseUser) -> None:
    if job.status != JobStatus.NEEDS_REVIEW:
        raise ClaimError("This job is no longer waiting for review.")
    held = JobClaim.objects.filter(job=job, moderator=by, expires_at__gte=timezone.now()).exists()
    # A lapsed or missing claim is taken now if nobody else holds it.
    if not held and not claim_take(job=job, by=by):
        raise ClaimError("Another moderator is working on this job.")


def _finish_claim(job: RenderJob) -> None:
    JobClaim.objects.filter(job=job).update(moderator=None, expires_at=None)


def moderation_approve(*, job: RenderJob, by: AbstractBaseUser, reason: str = "") -> ModerationDecision:
    """Approve a job needing review (it is delivered as it is). Needs the claim."""
    with transaction.atomic():
        _require_claim(job, by)
        if not job_approve(job, by=by, reason=reason or f"Approved by {by}."):
            raise ClaimError("The job changed while it was being approved.")
        _finish_claim(job)
        return _audit(job, by=by, action=ModerationDecision.Action.APPROVE, reason=reason)


def moderation_reject(*, job: RenderJob, by: AbstractBaseUser, reason: str) -> ModerationDecision:
    """Reject a job needing review, with the moderator's reason. Needs the claim."""
    if not reason.strip():
        raise ValueError("A rejection needs a reason.")
    with transaction.atomic():
        _require_claim(job, by)
        if not job_reject(job, by=by, reason=reason):
            raise ClaimError("The job changed while it was being rejected.")
        _finish_claim(job)
        return _audit(job, by=by, action=ModerationDecision.Action.REJECT, reason=reason)


def moderation_rerender(
    *,
    job: RenderJob,
    by: AbstractBaseUser,
    texts: dict[str, str] | None = None,
    step: str = "moderator",
    engine: Engine | None = None,
    guidance: int = 0,
    seed: int | None = None,
    reason: str = "",
) -> RenderAttempt:
    """Send a job back to final rendering with the moderator's choices (edited text, an
    escalation step — stronger guidance, another engine, deterministic compositing — and a
    seed; a new random seed when none is given). Needs the claim; enqueues after the commit."""
    if seed is None:
        seed = secrets.randbelow(MAX_SEED)
    if step == "guidance":
        guidance = max(guidance, 1)
    with transaction.atomic():
        _require_claim(job, by)
        changed = {k: v for k, v in (texts or {}).items() if job.texts.get(k) != v}
        attempt = job_force_rerender(
            job, by=by, texts=texts if changed else None, engine=engine, guidance=guidance, step=step, seed=seed
        )
        _finish_claim(job)
        _audit(
            job,
            by=by,
            action=ModerationDecision.Action.RERENDER,
            reason=reason,
            details={
                "step": step,
                "engine": attempt.engine.slug,
                "guidance": guidance,
                "seed": seed,
                "texts": changed,
                "attempt": attempt.number,
            },
        )
        return attempt


def moderation_bulk(
    *, jobs: list[RenderJob], by: AbstractBaseUser, action: str, reason: str
) -> tuple[list[ModerationDecision], list[tuple[RenderJob, str]]]:
    """Approve or reject each of `jobs` with one reason ("approve" | "reject"), each in its
    own transaction and with its claim (`moderation_approve` / `moderation_reject`).
    Returns (the decisions made, [(job, why it was left)]); one job that cannot be decided
    (claimed by someone else, no longer waiting) never stops the rest."""
    decided: list[ModerationDecision] = []
    left: list[tuple[RenderJob, str]] = []
    for job in jobs:
        try:
            if action == "approve":
                decided.append(moderation_approve(job=job, by=by, reason=reason))
            else:
                decided.append(moderation_reject(job=job, by=by, reason=reason))
        except (ClaimError, TransitionError, ValueError) as exc:
            left.append((job, str(exc)))
    return decided, left
