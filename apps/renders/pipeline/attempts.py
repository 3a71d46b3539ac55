"""Starting an attempt: the next `RenderAttempt` of a job, its prompt and seed, the job's move
to the stage's status, and the engine call enqueued once the transaction commits."""

import time

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import OuterRef, Subquery

from apps.catalog.models import Adapter
from apps.engines.adapter_support import engine_adapter_support
from apps.engines.models import Engine
from apps.renders.models import AdapterUse, JobStatus, RenderAttempt, RenderJob, Stage
from apps.renders.pipeline import enqueue
from apps.renders.pipeline.state import TransitionError, job_transition

MAX_SEED = 2**31 - 1


def attempt_prompt(job: RenderJob, *, guidance: int) -> str:
    """The prompt for a guidance level: level ≥ 1 adds the template's guidance tokens and an
    explicit exact-text clause."""
    if guidance < 1 or not job.texts:
        return job.prompt
    tokens = job.template.guidance_tokens if job.template else ""
    exact = ", ".join(f'"{text}"' for text in job.texts.values())
    clause = f"Typography must read exactly {exact}, spelled letter for letter, with no other text."
    return " ".join(part for part in (job.prompt, tokens, clause) if part)


def attempt_adapter(job: RenderJob, *, engine: Engine) -> tuple[Adapter | None, float | None, str]:
    """The template's adapter for an attempt on `engine`: (adapter, strength sent, AdapterUse).

    The adapter is recorded whatever happens to it, so a dropped one shows; the strength is
    None unless it is applied. Off when the job asks to run without it; unsupported when the
    engine's kind has no way to send one (apps.engines.adapter_support)."""
    template = job.template
    adapter = template.adapter if template is not None else None
    if template is None or adapter is None:
        return None, None, AdapterUse.NONE
    if job.adapter_off:
        return adapter, None, AdapterUse.OFF
    if not engine_adapter_support(engine=engine, reference=adapter.reference).supported:
        return adapter, None, AdapterUse.UNSUPPORTED
    return adapter, template.effective_adapter_strength, AdapterUse.APPLIED


def attempt_build(
    job: RenderJob,
    *,
    number: int,
    stage: str,
    engine: Engine,
    guidance: int = 0,
    step: str = "initial",
    reason: str = "",
    seed: int | None = None,
) -> RenderAttempt:
    """The job's attempt `number`, not yet saved: its prompt for the guidance level, the
    job's seed unless `seed` is given, and the template's adapter (`attempt_adapter`)."""
    adapter, strength, use = attempt_adapter(job, engine=engine)
    return RenderAttempt(
        job=job,
        number=number,
        stage=stage,
        engine=engine,
        guidance=guidance,
        step=step,
        reason=reason,
        prompt=attempt_prompt(job, guidance=guidance),
        seed=job.seed if seed is None else seed,
        requested_size=f"{job.width}x{job.height}",
        adapter=adapter,
        adapter_strength=strength,
        adapter_use=use,
    )


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
    move_job: bool = True,
) -> RenderAttempt:
    """Create the job's next attempt, move the job to the stage's status and enqueue the
    engine call once the transaction commits. `move_job=False` leaves the job's status as it
    is (a final started beside the preview: the job stays PREVIEWING until one concludes).

    Raises TransitionError when the job's status is no longer the one the caller decided on
    (`job.status`): two people asking for the same final must not start two."""
    target = JobStatus.PREVIEWING if stage == Stage.PREVIEW else JobStatus.RENDERING
    # No savepoint of its own (a nested block costs two statements): nothing catches its
    # errors inside an enclosing transaction, so they roll the enclosing block back.
    with transaction.atomic(savepoint=False):
        # The lock and the next attempt number in one statement (a scalar subquery: FOR UPDATE
        # allows no aggregate at the top level).
        last = RenderAttempt.objects.filter(job=OuterRef("pk")).order_by("-number").values("number")[:1]
        locked = RenderJob.objects.select_for_update().annotate(last=Subquery(last)).get(pk=job.pk)
        if locked.status != job.status:
            raise TransitionError("The job changed while the attempt was being queued.")
        number = (locked.last or 0) + 1
        attempt = attempt_build(
            job, number=number, stage=stage, engine=engine, guidance=guidance, step=step, reason=reason, seed=seed
        )
        attempt.job = locked
        attempt.save(force_insert=True)
        note = reason or f"{stage.title()} attempt {number} queued."
        if move_job and job.status != target and not job_transition(job, to=target, reason=note, by=by):
            raise TransitionError("The job changed while the attempt was being queued.")
        queue = enqueue.stage_queue(tier=job.tier, stage=stage)
        # robust: a broker outage must not fail the request; the sweeper re-enqueues QUEUED attempts.
        transaction.on_commit(lambda: enqueue.attempt_run(attempt, queue=queue), robust=True)
    return attempt


def ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)
