"""Verification and its outcome: run the gate on an attempt's image, then move the job on by
the verdict (preview ready, delivered, moderation, or the next step of the escalation ladder)."""

import logging
import time
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from apps.core.hotsql import ModelColumns
from apps.core.prepared import execute_prepared
from apps.policy import services as policy
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob, Stage
from apps.renders.outcomes import delivered_reason, preview_ready_reason
from apps.renders.pipeline.attempts import MAX_SEED, attempt_start, ms_since
from apps.renders.pipeline.hedging import preview_hedge_lost, preview_hedge_won
from apps.renders.pipeline.state import IN_FLIGHT, job_finish, job_to_final_stage, job_transition
from apps.verification.gate import verify_image
from apps.verification.services import verification_record

log = logging.getLogger(__name__)

# What may change on a job while one of its attempts calls an engine or is verified.
JOB_MOVING_FIELDS = [
    "status",
    "status_reason",
    "updated_at",
    "preview_ready_at",
    "finished_at",
    "actual_cost_usd",
    "prompt",
    "texts",
]


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
        attempt.timings_ms = {**attempt.timings_ms, "verify": ms_since(started)}
        attempt.save(update_fields=["timings_ms"])
        status = {"pass": AttemptStatus.PASSED, "review": AttemptStatus.REVIEW}.get(
            report.verdict, AttemptStatus.FAILED
        )
        attempt_conclude(attempt, status=status)


def attempt_conclude(attempt: RenderAttempt, *, status: str, recorded: bool = False) -> None:
    """Record an attempt's verdict and move the job on.

    Preview: the job's preview is ready (whatever the verdict, which the editor sees);
    auto-final tiers go straight on. Final: pass → delivered; review → moderation;
    fail → the tier's escalation ladder (a new attempt) or moderation. `recorded`: the
    caller already wrote the status and finished_at (in its own transaction).
    """
    with transaction.atomic(savepoint=False):  # nested in the store's or the gate's transaction
        if not recorded:
            RenderAttempt.objects.filter(pk=attempt.pk).update(status=status, finished_at=timezone.now())
        attempt.status = status
        # The job as it is now, re-read where the pipeline may have moved it meanwhile; its
        # tier and template stay those read with the attempt (`attempt_run`, `attempt_verify`).
        job = attempt.job
        asks_final = attempt.stage == Stage.PREVIEW and job.auto_final
        final_on_its_way = _job_reread(job, final_in_flight=asks_final)
        if attempt.stage == Stage.PREVIEW:
            # The transition is the race: of two previews concluding at once only one moves the
            # job on; the other lost, even though it saw PREVIEWING when it read the job.
            # A final started beside the preview and still on its way: the job goes on to
            # RENDERING in the same update (two moves, two events).
            beside = job.status == JobStatus.PREVIEWING and job.auto_final and final_on_its_way
            then = (JobStatus.RENDERING, "Preview ready; the final, started beside it, is rendering.")
            won = job.status == JobStatus.PREVIEWING and job_transition(
                job, to=JobStatus.PREVIEW_READY, reason=preview_ready_reason(attempt), then=then if beside else None
            )
            if won:
                if job.tier.hedge_previews or attempt.step == "hedge":  # else no rival can exist
                    preview_hedge_won(attempt)
                if not job.auto_final:
                    _book_resting_preview(job)
                elif not beside:  # (beside: RENDERING already, the final decides the job)
                    attempt_start(
                        job,
                        stage=Stage.FINAL,
                        engine=job.engine or job.tier.final_engine,
                        reason="Final render queued automatically for this tier.",
                    )
            elif job.attempts.filter(stage=Stage.PREVIEW).exclude(pk=attempt.pk).exists():
                preview_hedge_lost(attempt)
                if job.status == JobStatus.PREVIEW_READY and not job.auto_final:
                    _book_resting_preview(job)  # the loser's cost, too
            return
        if job.auto_final and job.status in (JobStatus.PREVIEWING, JobStatus.PREVIEW_READY):
            # The final started beside the preview answered first: it decides now.
            job_to_final_stage(job, reason="The final answered before the preview; it decides the job.")
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
                attempts_made=job.attempts.filter(stage=Stage.FINAL).count(),  # limits count per stage
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


_MOVING = ModelColumns(RenderJob, "j", fields=JOB_MOVING_FIELDS)


def _job_reread(job: RenderJob, *, final_in_flight: bool) -> bool:
    """Re-read the job's moving fields (`JOB_MOVING_FIELDS`), as `refresh_from_db(fields=…)`
    would, and with `final_in_flight` whether one of its final attempts is on its way (as
    `state.final_in_flight`), in one hand-written statement (the ORM's two took more CPU to
    build than to run). False when not asked."""
    attempts = RenderAttempt._meta.db_table
    in_flight = (
        f"EXISTS (SELECT 1 FROM {attempts} a WHERE a.job_id = j.id AND a.stage = %s"
        f" AND a.status IN ({', '.join(['%s'] * len(IN_FLIGHT))}))"
    )
    params: list[object] = [Stage.FINAL.value, *IN_FLIGHT] if final_in_flight else []
    with connection.cursor() as cursor:
        sql = (
            f"SELECT {_MOVING.sql}{', ' + in_flight if final_in_flight else ''}"
            f" FROM {RenderJob._meta.db_table} j WHERE j.id = %s"
        )
        if connection.vendor == "postgresql":  # planned once per connection (apps.core.prepared)
            name = "renderhub_job_reread_final" if final_in_flight else "renderhub_job_reread"
            execute_prepared(cursor, name=name, sql=sql, params=[*params, job.pk])
        else:
            cursor.execute(sql, [*params, job.pk])
        row = cursor.fetchone()
    if row is None:
        raise RenderJob.DoesNotExist(f"job {job.pk} is gone")
    _MOVING.assign(job, row)
    return bool(row[_MOVING.width]) if final_in_flight else False


_COST = ModelColumns(RenderAttempt, "a", fields=["cost_usd"])


def _book_resting_preview(job: RenderJob) -> None:
    """The job rests at its preview until the editor asks for the final, maybe never: book
    what its attempts cost and free the rest of the hold (held again on request)."""
    with connection.cursor() as cursor:  # hand-written: every preview-tier job rests here
        cursor.execute(f"SELECT SUM({_COST.sql}) FROM {RenderAttempt._meta.db_table} a WHERE a.job_id = %s", [job.pk])
        (total,) = _COST.values(cursor.fetchone() or (None,))
    spent = total or Decimal("0")
    policy.budget_book(ref=str(job.public_id), spent_usd=spent)
