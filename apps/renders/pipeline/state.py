"""The job's state machine: the one place that assigns `job.status`, and the settlement of a
job's cost when it comes to rest."""

from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils import timezone

from apps.core.hotsql import ModelColumns, rows_insert, rows_update
from apps.engines.models import Engine
from apps.policy import services as policy
from apps.renders.models import TERMINAL_STATUSES, AttemptStatus, JobEvent, JobStatus, RenderAttempt, RenderJob, Stage

ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    JobStatus.QUEUED: {
        JobStatus.PREVIEWING,
        JobStatus.RENDERING,
        JobStatus.DEFERRED,
        JobStatus.REFUSED,
        JobStatus.FAILED,
    },
    JobStatus.DEFERRED: {JobStatus.QUEUED, JobStatus.REFUSED, JobStatus.FAILED},
    # PREVIEWING → RENDERING: a final started beside the preview answered (or the preview failed) first.
    JobStatus.PREVIEWING: {JobStatus.PREVIEW_READY, JobStatus.PREVIEWING, JobStatus.RENDERING, JobStatus.FAILED},
    JobStatus.PREVIEW_READY: {JobStatus.RENDERING, JobStatus.FAILED},
    JobStatus.RENDERING: {JobStatus.RENDERING, JobStatus.DELIVERED, JobStatus.NEEDS_REVIEW, JobStatus.FAILED},
    JobStatus.NEEDS_REVIEW: {JobStatus.DELIVERED, JobStatus.REJECTED, JobStatus.RENDERING},
    JobStatus.DELIVERED: set(),
    JobStatus.REJECTED: set(),
    JobStatus.REFUSED: set(),
    JobStatus.FAILED: set(),
    JobStatus.CANCELLED: set(),
}
# The editor may cancel a job at any point before it comes to rest (job_cancel).
CANCELLABLE = {
    JobStatus.QUEUED,
    JobStatus.DEFERRED,
    JobStatus.PREVIEWING,
    JobStatus.PREVIEW_READY,
    JobStatus.RENDERING,
}
for _status in CANCELLABLE:
    ALLOWED_TRANSITIONS[_status].add(JobStatus.CANCELLED)
# A moderator's approval or rejection may be undone within its short window
# (apps.moderation.undo): only `job_reopen` asks for these moves.
REOPENABLE = {JobStatus.DELIVERED, JobStatus.REJECTED}


class TransitionError(Exception):
    pass


def job_transition(
    job: RenderJob,
    *,
    to: str,
    reason: str = "",
    by: AbstractBaseUser | None = None,
    reopen: bool = False,
    then: tuple[str, str] | None = None,
) -> bool:
    """Move `job` to `to` if that move is allowed from its current status (`reopen`: the
    undo of a moderator's decision, DELIVERED | REJECTED → NEEDS_REVIEW, which nothing else may ask).
    `then` = (status, reason): move on from `to` to that status at once, in the same update,
    each move checked and recorded with its own JobEvent (a preview ready while the final
    started beside it renders: PREVIEWING → PREVIEW_READY → RENDERING).

    The update is conditional on the status the caller saw, so of two racing callers
    only one wins; the loser gets False and changes nothing. Writes a JobEvent per move.
    """
    current = job.status
    reopening = reopen and current in REOPENABLE and to == JobStatus.NEEDS_REVIEW
    if to not in ALLOWED_TRANSITIONS[current] and not reopening:
        raise TransitionError(f"A job cannot go from {current} to {to}.")
    if then is not None and then[0] not in ALLOWED_TRANSITIONS[to]:
        raise TransitionError(f"A job cannot go from {to} to {then[0]}.")
    now = timezone.now()
    fields: dict[str, object] = {"status": to, "status_reason": reason, "updated_at": now}
    if reopening:
        fields["finished_at"] = None
    moves = [(current, to, reason)] + ([(to, *then)] if then is not None else [])
    for _, status, why in moves:
        fields.update(status=status, status_reason=why)
        if status == JobStatus.PREVIEW_READY:
            fields["preview_ready_at"] = now
        if status in TERMINAL_STATUSES:
            fields["finished_at"] = now
    # Plain statements (apps.core.hotsql): every attempt that concludes moves its job, and the
    # ORM took longer to build this update and insert than PostgreSQL took to run them.
    if rows_update(RenderJob, values=fields, where={"id": job.pk, "status": current}) != 1:
        return False
    for name, value in fields.items():
        setattr(job, name, value)
    actor = by.pk if by is not None else None
    rows_insert(
        [JobEvent(job_id=job.pk, from_status=old, to_status=new, reason=why, actor_id=actor) for old, new, why in moves]
    )
    return True


def job_create(
    job: RenderJob, *, reason: str, by: AbstractBaseUser | None = None, moves: list[tuple[str, str]] | None = None
) -> None:
    """Insert a new job (not yet saved) as QUEUED with `reason` (its admission) and `by` on
    its first JobEvent, already moved on through `moves` ([(to, reason)], each checked and
    recorded as `job_transition` does, with no actor). One INSERT for the job at the status
    it ends at and one for all its events, instead of an INSERT, then an UPDATE and an event
    per move: nobody else can see the job before the caller's transaction commits, so there
    is no race for the conditional update to settle."""
    now = timezone.now()
    events = [JobEvent(from_status="", to_status=JobStatus.QUEUED, reason=reason, actor=by)]
    job.status = current = JobStatus.QUEUED
    for to, why in moves or []:
        if to not in ALLOWED_TRANSITIONS[current]:
            raise TransitionError(f"A job cannot go from {current} to {to}.")
        job.status, job.status_reason = to, why
        if to == JobStatus.PREVIEW_READY:
            job.preview_ready_at = now
        if to in TERMINAL_STATUSES:
            job.finished_at = now
        events.append(JobEvent(from_status=current, to_status=to, reason=why))
        current = to
    rows_insert([job])  # what job.save(force_insert=True) writes, without compiling it anew
    for event in events:
        event.job = job
    rows_insert(events)


# An attempt on its way: its engine call or its verification is still to answer.
IN_FLIGHT = [AttemptStatus.QUEUED.value, AttemptStatus.RUNNING.value, AttemptStatus.VERIFYING.value]


def final_in_flight(job: RenderJob) -> bool:
    """Whether a final attempt of the job is queued, running or verifying (one started
    beside the preview on an auto-final tier)."""
    return job.attempts.filter(stage=Stage.FINAL, status__in=IN_FLIGHT).exists()


def job_to_final_stage(job: RenderJob, *, reason: str) -> bool:
    """Move an auto-final job whose final was started beside the preview to RENDERING, from
    PREVIEWING or PREVIEW_READY. True when the job is RENDERING afterwards (by this call or a
    racing one), False when it is anywhere else (failed, delivered, cancelled)."""
    for _ in range(3):  # a racing preview or final may move it between our read and update
        if job.status == JobStatus.RENDERING:
            return True
        if job.status not in (JobStatus.PREVIEWING, JobStatus.PREVIEW_READY):
            return False
        if job_transition(job, to=JobStatus.RENDERING, reason=reason):
            return True
        job.refresh_from_db(fields=["status", "status_reason", "preview_ready_at", "finished_at"])
    return job.status == JobStatus.RENDERING


_ATTEMPT_COST = ModelColumns(RenderAttempt, "a", fields=["stage", "cost_usd"])
_ENGINE_SLUG = ModelColumns(Engine, "e", fields=["slug"])


def job_finish(job: RenderJob, *, to: str, reason: str, by: AbstractBaseUser | None = None) -> bool:
    """Transition to a resting status and settle the job's cost against its reservation."""
    if not job_transition(job, to=to, reason=reason, by=by):
        return False
    if to == JobStatus.NEEDS_REVIEW:
        return True
    # One read of the job's attempts (a job has a handful) for the cost and the final's record
    # (hand-written, apps.core.hotsql: every job that finishes reads it).
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_ATTEMPT_COST.sql}, {_ENGINE_SLUG.sql} FROM {RenderAttempt._meta.db_table} a"
            f" JOIN {Engine._meta.db_table} e ON e.id = a.engine_id WHERE a.job_id = %s ORDER BY a.number",
            [job.pk],
        )
        rows = [(*_ATTEMPT_COST.values(row), *_ENGINE_SLUG.values(row, _ATTEMPT_COST.width)) for row in cursor]
    actual = sum((cost for _, cost, _ in rows), Decimal("0"))
    if actual != job.actual_cost_usd:
        RenderJob.objects.filter(pk=job.pk).update(actual_cost_usd=actual)
        job.actual_cost_usd = actual
    policy.budget_settle(ref=str(job.public_id), actual_usd=actual)
    finals = [slug for stage, _, slug in rows if stage == Stage.FINAL]
    if finals:
        policy.cost_record_outcome(
            template=job.template.slug if job.template else "",
            engine=finals[-1],
            attempts=len(finals),
            delivered=to == JobStatus.DELIVERED,
            ref=str(job.public_id),
        )
    return True
