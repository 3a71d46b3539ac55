"""Reads: which jobs a user may see, with what they need loaded."""

import hashlib

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Max, Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404

from apps.renders.models import RenderAttempt, RenderJob


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


def job_page_version(*, user: AbstractBaseUser, public_id: object) -> str | None:
    """A fingerprint of everything the job page's status partial shows, from one aggregate
    query (no attempts fetched, no template rendered); None when the user may not see the
    job. Each attempt change the page shows moves one of these: claimed (started_at), image
    stored, verified, finished, cancelled."""
    row = (
        jobs_visible_to(user)
        .filter(public_id=public_id)
        .values("pk", "status", "updated_at", "defer_until", "admission_reason", "actual_cost_usd")
        .annotate(
            n_attempts=Count("attempts"),
            started=Max("attempts__started_at"),
            finished=Max("attempts__finished_at"),
            imaged=Count("attempts", filter=~Q(attempts__image="")),
            verified=Count("attempts__verification"),
            cancelled=Count("attempts", filter=Q(attempts__status="cancelled")),
        )
        .first()
    )
    if row is None:
        return None
    digest = hashlib.blake2b(repr(sorted(row.items())).encode(), digest_size=12).hexdigest()
    return f"{user.pk}-{digest}"
