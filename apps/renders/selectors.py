"""Reads: which jobs a user may see, with what they need loaded."""

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.renders.models import SETTLED_STATUSES, JobStatus, RenderAttempt, RenderJob


def jobs_visible_to(user: AbstractBaseUser) -> QuerySet[RenderJob]:
    qs = RenderJob.objects.select_related("template", "tier", "engine", "submitted_by")
    if user.has_perm("renders.view_all_renders"):
        return qs
    return qs.filter(submitted_by=user)


def job_for_user(*, user: AbstractBaseUser, public_id: object) -> RenderJob:
    """The job with its attempts, or 404 when the user may not see it (no ID probing)."""
    attempts = RenderAttempt.objects.select_related("engine", "verification").order_by("number")
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


def job_final_attempt(job: RenderJob) -> RenderAttempt | None:
    finals = [a for a in job.attempts.all() if a.image and a.stage == "final"]
    return finals[-1] if finals else None


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
