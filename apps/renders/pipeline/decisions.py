"""People's decisions on a job: the editor asks for the final of a previewed job; a moderator
approves, rejects or forces a re-render of a job that needs review."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from apps.engines.models import Engine
from apps.policy import services as policy
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob, Stage
from apps.renders.pipeline.attempts import MAX_SEED, attempt_start
from apps.renders.pipeline.state import CANCELLABLE, REOPENABLE, TransitionError, job_finish, job_transition
from apps.renders.pipeline.submit import prompt_resolve


class BudgetError(Exception):
    """Today's budget cannot hold what was asked for; the message says so in plain words."""


def final_repeats_failed_preview(job: RenderJob) -> bool:
    """True when the final, asked for now, would send the very request whose preview failed
    verification: the same engine at the job's seed with no extra guidance. An engine that
    honours the seed renders the same image again (the built-in simulation always does), so
    that final would pay for a known failure before the escalation ladder could help.
    `job` with its attempts (and their verification) at hand."""
    previews = [a for a in job.attempts.all() if a.stage == Stage.PREVIEW and a.image]
    if not previews:
        return False
    preview = previews[-1]
    return (
        preview.engine_id == (job.engine_id or job.tier.final_engine_id)
        and preview.seed == job.seed
        and preview.guidance == 0
        and bool(preview.seed_honoured)
        and preview.verification is not None
        and preview.verification.verdict == "fail"
    )


def job_request_final(job: RenderJob, *, by: AbstractBaseUser | None = None) -> RenderAttempt:
    """The editor asks for the final render of a previewed job (same seed, final engine; the
    next seed when that request is the one whose preview failed, `final_repeats_failed_preview`).

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
        if final_repeats_failed_preview(job):
            seed = (job.seed + 1) % MAX_SEED
            reason = (
                f"The preview failed verification on {engine.name} at seed {job.seed}, which would render the "
                f"same image again: the final renders at seed {seed}."
            )
            return attempt_start(job, stage=Stage.FINAL, engine=engine, seed=seed, reason=reason, by=by)
        return attempt_start(job, stage=Stage.FINAL, engine=engine, by=by)


def job_approve(job: RenderJob, *, by: AbstractBaseUser, reason: str = "") -> bool:
    """A moderator approves a job that needed review: it is delivered as it is."""
    return job_finish(job, to=JobStatus.DELIVERED, reason=reason or f"Approved by {by}.", by=by)


def job_reject(job: RenderJob, *, by: AbstractBaseUser, reason: str) -> bool:
    """A moderator rejects a job that needed review."""
    return job_finish(job, to=JobStatus.REJECTED, reason=f"Rejected by {by}: {reason}", by=by)


def job_reopen(job: RenderJob, *, by: AbstractBaseUser, reason: str) -> bool:
    """Put a job a moderator approved or rejected back into review (the decision was undone):
    DELIVERED | REJECTED → NEEDS_REVIEW, its budget reservation open again with nothing held
    (`budget_reopen`: what it spent stays spent) and its recorded cost outcome taken back.
    The JobEvent of the decision stays; this move writes its own. False when the job had
    already moved on; TransitionError from any other status."""
    if job.status not in REOPENABLE:
        raise TransitionError("Only an approved or rejected job can go back into review.")
    with transaction.atomic():
        if not job_transition(job, to=JobStatus.NEEDS_REVIEW, reason=reason, by=by, reopen=True):
            return False
        policy.budget_reopen(ref=str(job.public_id))
        policy.cost_outcome_forget(ref=str(job.public_id))
    return True


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
    stronger guidance, a composite step or a new seed.

    The re-render's price is held first (`budget_extend` on the job's reservation, which
    stays open while the job waits in review); BudgetError, and nothing changed, when
    today's budget cannot hold it."""
    if job.status != JobStatus.NEEDS_REVIEW:
        raise TransitionError("Only a job that needs review can be re-rendered by a moderator.")
    engine = engine or job.engine or job.tier.final_engine
    price = policy.engine_price(engine=engine, width=job.width, height=job.height, quality=job.tier.quality)
    with transaction.atomic():
        if not policy.budget_extend(ref=str(job.public_id), amount_usd=price):
            raise BudgetError(
                f"Today's budget for the {job.tier.name} tier cannot hold the re-render on {engine.name} "
                f"(about ${price:.2f}); try again after the budget resets or ask an admin."
            )
        return _rerender(job, by=by, texts=texts, engine=engine, guidance=guidance, step=step, seed=seed)


def _rerender(
    job: RenderJob,
    *,
    by: AbstractBaseUser,
    texts: dict[str, str] | None,
    engine: Engine,
    guidance: int,
    step: str,
    seed: int | None,
) -> RenderAttempt:
    if texts:
        if job.template is not None:
            resolved = prompt_resolve(template=job.template, texts=texts)
            job.prompt, job.texts = resolved.prompt, resolved.texts
        else:
            job.texts = texts
        job.save(update_fields=["prompt", "texts"])
    return attempt_start(
        job,
        stage=Stage.FINAL,
        engine=engine,
        guidance=guidance,
        step=step,
        seed=seed,
        by=by,
        reason=f"Re-render forced by {by}.",
    )


def job_cancel(job: RenderJob, *, by: AbstractBaseUser) -> bool:
    """Cancel a job that has not come to rest (queued, deferred, rendering, or resting at its
    preview): attempts not yet sent to an engine are cancelled, the job settles at what its
    attempts cost (the rest of the hold is released) and the audit trail names who cancelled.
    An engine call already running finishes and is booked; its result changes nothing.
    False when the job had already moved on; TransitionError when it cannot be cancelled."""
    if job.status not in CANCELLABLE:
        raise TransitionError("Only a job that is still on its way (or resting at its preview) can be cancelled.")
    with transaction.atomic():
        if not job_finish(job, to=JobStatus.CANCELLED, reason=f"Cancelled by {by}.", by=by):
            return False
        job.attempts.filter(status=AttemptStatus.QUEUED).update(
            status=AttemptStatus.CANCELLED, error="The job was cancelled before this attempt ran."
        )
    return True
