"""Which renders of a template may train its adapter, and why the others may not.

A render qualifies when a person or the gate vouched for the text in its image:

- ``moderator_approved``: a moderator approved the job from the review queue (the image is the
  job's last final, the one the moderator saw);
- ``gate_first_pass``: the gate passed the first final image it judged for the job's text (a
  pass that needed an escalation re-render is left out: stronger guidance, another engine or
  compositing changed what produced the image, so the template prompt alone did not).

When a moderator edited the text before a re-render, the edited text is the target: the job's
texts and prompt are the edited ones, and the image must come from an attempt made after the
edit ("first" then counts from the edit). Everything else is left out with a reason (`REASONS`).
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Prefetch

from apps.catalog.models import Template
from apps.moderation.models import ModerationDecision
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob, Stage
from apps.training.models import TrainingExport

# Reason key → what it means (report.json carries both).
REASONS: dict[str, str] = {
    "before_since": "submitted before --since",
    "rejected": "rejected by a moderator",
    "not_delivered": "not delivered (in progress, waiting for review, failed, cancelled, refused, or at its preview)",
    "not_verified": "delivered on a tier that does not verify: neither the gate nor a moderator checked its text",
    "escalated_pass": "passed the gate only after an escalation re-render (not a first-pass pass)",
    "edited_text_not_target": "a moderator edited the text but the image was not rendered from the edited text",
    "no_image": "the delivered image is missing from storage",
    "duplicate_image": "the same image bytes as an item already in the set",
    "duplicate_render": "the same seed, texts and engine as an item already in the set",
}

MODERATOR_APPROVED = "moderator_approved"
GATE_FIRST_PASS = "gate_first_pass"


@dataclass(frozen=True)
class Candidate:
    """A delivered render that qualifies, with the image attempt that is its training target."""

    job: RenderJob
    attempt: RenderAttempt
    origin: str  # MODERATOR_APPROVED | GATE_FIRST_PASS
    approved_by: str | None = None  # the moderator's username
    approved_at: datetime | None = None
    edited_slots: list[str] = field(default_factory=list)  # slots a moderator changed before the re-render
    original_prompt: str | None = None  # the prompt before the edit, when edited


@dataclass
class Selection:
    candidates: list[Candidate] = field(default_factory=list)
    left_out: Counter[str] = field(default_factory=Counter)
    not_delivered_by_status: Counter[str] = field(default_factory=Counter)
    seen: int = 0


def _template_jobs(template: Template) -> Iterator[RenderJob]:
    """The template's jobs, oldest first, with attempts and the moderators' decisions, in
    chunks (a constant number of queries per 200 jobs)."""
    attempts = RenderAttempt.objects.select_related("engine", "verification", "adapter").order_by("number")
    decisions = (
        ModerationDecision.objects.select_related("moderator")
        .filter(action__in=[ModerationDecision.Action.APPROVE, ModerationDecision.Action.RERENDER])
        .order_by("created_at", "pk")
    )
    return (
        RenderJob.objects.filter(template=template)
        .order_by("created_at", "pk")
        .prefetch_related(Prefetch("attempts", queryset=attempts), Prefetch("moderation_decisions", queryset=decisions))
        .iterator(chunk_size=200)
    )


def job_training_candidate(job: RenderJob) -> Candidate | str:
    """The job's training candidate, or the REASONS key it is left out for.

    `job` with `attempts` (number order) and `moderation_decisions` (approve/re-render, oldest
    first) prefetched, as `_template_jobs` gives them."""
    if job.status == JobStatus.REJECTED:
        return "rejected"
    if job.status != JobStatus.DELIVERED:
        return "not_delivered"
    attempts = list(job.attempts.all())
    finals = [a for a in attempts if a.stage == Stage.FINAL]
    decisions = list(job.moderation_decisions.all())
    edits = [d for d in decisions if d.action == ModerationDecision.Action.RERENDER and d.details.get("texts")]
    # The first attempt rendered from the edited text (its number is in the audit record).
    edit_from = int(edits[-1].details.get("attempt") or 0) if edits else 0
    edited_slots = sorted({slot for d in edits for slot in d.details["texts"]})
    original_prompt = attempts[0].prompt if edits and attempts and attempts[0].prompt != job.prompt else None
    approvals = [d for d in decisions if d.action == ModerationDecision.Action.APPROVE]
    if approvals:
        with_image = [a for a in finals if a.image]
        if not with_image:
            return "no_image"
        image = with_image[-1]
        if image.number < edit_from:
            return "edited_text_not_target"
        approval = approvals[-1]
        return Candidate(
            job=job,
            attempt=image,
            origin=MODERATOR_APPROVED,
            approved_by=approval.moderator.get_username(),
            approved_at=approval.created_at,
            edited_slots=edited_slots,
            original_prompt=original_prompt,
        )
    passed = [a for a in finals if a.status == AttemptStatus.PASSED]
    if not passed or passed[-1].verification_id is None:
        return "not_verified"
    image = passed[-1]
    judged = [a for a in finals if a.verification_id is not None and a.number >= edit_from]
    if not judged or judged[0].pk != image.pk:
        return "escalated_pass"
    if not image.image:
        return "no_image"
    return Candidate(
        job=job, attempt=image, origin=GATE_FIRST_PASS, edited_slots=edited_slots, original_prompt=original_prompt
    )


def training_candidates(*, template: Template, since: datetime | None = None) -> Selection:
    """Every job of `template` (submitted at or after `since`, when given) sorted into the
    candidates, oldest first, and counts of what was left out per REASONS key (jobs left out
    as not delivered are also counted per status)."""
    selection = Selection()
    for job in _template_jobs(template):
        selection.seen += 1
        if since is not None and job.created_at < since:
            selection.left_out["before_since"] += 1
            continue
        outcome = job_training_candidate(job)
        if isinstance(outcome, str):
            selection.left_out[outcome] += 1
            if outcome == "not_delivered":
                selection.not_delivered_by_status[job.status] += 1
            continue
        selection.candidates.append(outcome)
    return selection


def template_exports(*, template: Template, limit: int = 5) -> list[TrainingExport]:
    """The template's latest exports, newest first, with who asked for them."""
    return list(TrainingExport.objects.filter(template=template).select_related("requested_by")[:limit])
