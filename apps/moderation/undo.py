"""Undo of a moderator's approval or rejection within a short window (UNDO_WINDOW).

What an approval sets off, and what undo does about each:
- the job's status (DELIVERED or REJECTED, a JobEvent): moved back to NEEDS_REVIEW by
  `job_reopen`, with a JobEvent of its own; the decision's event and row stay;
- billing: the close settled the job's budget reservation; it is opened again with nothing
  held (`budget_reopen`), what the job spent stays spent (it was billed);
- the cost model's outcome row for the job: taken back (`cost_outcome_forget`);
- outside the server: RenderHub sends no webhooks, e-mails or notifications, but for the
  seconds the decision stood the job page and the JSON API showed it as delivered (or
  rejected). Whoever read it then keeps what they read; undo cannot recall that, and says so
  (naming the submitter's API token when it was used since the decision).

Decisions are undone only by the moderator who made them, at most once (the UNDO row's
one-to-one `undoes`), and only while the job still rests where the decision put it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.moderation.models import JobClaim, ModerationDecision
from apps.renders.models import JobEvent, JobStatus, RenderJob
from apps.renders.pipeline.decisions import job_reopen
from apps.renders.pipeline.state import TransitionError

UNDO_WINDOW = timedelta(seconds=30)
UNDOABLE = {
    ModerationDecision.Action.APPROVE: JobStatus.DELIVERED,
    ModerationDecision.Action.REJECT: JobStatus.REJECTED,
}


class UndoError(Exception):
    """The decision cannot be undone; the message says why in plain words."""


@dataclass(frozen=True)
class UndoOutcome:
    """One undone decision: the job (back in review), the UNDO audit row, and what could not
    be taken back (a sentence, or "")."""

    job: RenderJob
    undo: ModerationDecision
    not_undone: str


def undo_deadline(decision: ModerationDecision) -> datetime:
    return decision.created_at + UNDO_WINDOW


def job_label(job: RenderJob) -> str:
    texts = ", ".join(job.texts.values())
    return f"“{texts}”" if texts else str(job.public_id)


def _not_undone(decision: ModerationDecision, job: RenderJob, *, seconds: float) -> str:
    shown = "delivered" if decision.action == ModerationDecision.Action.APPROVE else "rejected"
    lasted = "under a second" if seconds < 1 else f"{seconds:.0f} s"
    sentence = (
        f"Not undone: for {lasted} {job_label(job)} showed as {shown} on its job page and in the API; "
        "whoever read it then keeps what they read."
    )
    used = ApiToken.objects.filter(user_id=job.submitted_by_id, last_used_at__gte=decision.created_at).exists()
    if used:
        sentence += " The submitter's API token was used since the decision, so a client may have fetched it."
    return sentence


def _keep_queue_place(job: RenderJob, *, decided_at: datetime) -> None:
    """Back to its place in the queue (oldest first by `updated_at`, shown as 'Waiting since'):
    the time it last entered review before the decision, not the moment of the undo."""
    entered = (
        JobEvent.objects.filter(job=job, to_status=JobStatus.NEEDS_REVIEW, created_at__lt=decided_at)
        .order_by("-created_at", "-pk")
        .values_list("created_at", flat=True)
        .first()
    )
    if entered is not None:
        RenderJob.objects.filter(pk=job.pk).update(updated_at=entered)
        job.updated_at = entered


def moderation_undo(*, decision: ModerationDecision, by: AbstractBaseUser, now: datetime | None = None) -> UndoOutcome:
    """Undo `decision` (an approval or rejection by `by`, at most UNDO_WINDOW old): the job
    goes back to NEEDS_REVIEW, unclaimed, in the queue (`job_reopen`); an UNDO row records
    who undid what and after how long. Raises UndoError (nothing changed) when the decision
    is not undoable, not `by`'s, too old, already undone, or the job has moved on."""
    now = now or timezone.now()
    if decision.action not in UNDOABLE:
        raise UndoError("Only an approval or a rejection can be undone.")
    if decision.moderator_id != by.pk:
        raise UndoError("Only the moderator who made a decision can undo it.")
    job = RenderJob.objects.get(pk=decision.job_id)
    age = (now - decision.created_at).total_seconds()
    verb = decision.get_action_display()
    if now > undo_deadline(decision):
        raise UndoError(
            f"Too late to undo: {verb.lower()} {job_label(job)} {age:.0f} s ago, and a decision can be undone "
            f"only within {UNDO_WINDOW.seconds} s. The decision stands."
        )
    if ModerationDecision.objects.filter(undoes=decision).exists():
        raise UndoError(f"{verb} {job_label(job)} was already undone.")
    if job.status != UNDOABLE[decision.action]:
        raise UndoError(f"{job_label(job)} has moved on since it was {verb.lower()}; the decision stands.")
    try:
        with transaction.atomic():
            if not job_reopen(job, by=by, reason=f"{verb} by {by}, undone after {age:.0f} s."):
                raise UndoError(f"{job_label(job)} changed while the decision was being undone.")
            _keep_queue_place(job, decided_at=decision.created_at)
            JobClaim.objects.filter(job=job).update(moderator=None, expires_at=None)
            undo = ModerationDecision.objects.create(
                job=job,
                moderator=by,
                action=ModerationDecision.Action.UNDO,
                undoes=decision,
                reason=f"{verb} undone after {age:.0f} s.",
                details={"undid": decision.action, "after_s": round(age, 1)},
            )
    except (IntegrityError, TransitionError) as exc:  # a racing undo of the same decision won
        raise UndoError(f"{verb} {job_label(job)} was already undone.") from exc
    return UndoOutcome(job=job, undo=undo, not_undone=_not_undone(decision, job, seconds=age))


def moderation_undo_many(
    *, decisions: list[ModerationDecision], by: AbstractBaseUser, now: datetime | None = None
) -> tuple[list[UndoOutcome], list[tuple[ModerationDecision, str]]]:
    """Undo each of `decisions` (a bulk approval or rejection) on its own; one that cannot be
    undone never stops the rest. Returns (undone, [(decision, why not)])."""
    now = now or timezone.now()
    done: list[UndoOutcome] = []
    left: list[tuple[ModerationDecision, str]] = []
    for decision in decisions:
        try:
            done.append(moderation_undo(decision=decision, by=by, now=now))
        except UndoError as exc:
            left.append((decision, str(exc)))
    return done, left
