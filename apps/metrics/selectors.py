"""Metrics of the verification gate and the moderation queue, overall and per template."""

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Subquery

from apps.moderation.models import ModerationDecision
from apps.renders.models import JobEvent, JobStatus, RenderAttempt, RenderJob, Stage


@dataclass
class GateRow:
    template: str
    renders: int  # jobs with a verified final attempt
    first_failed: int  # their first final attempt did not pass the gate
    sent_to_review: int  # reached the moderation queue
    approved: int
    rejected: int
    rerendered: int

    @property
    def gate_fail_rate(self) -> float | None:
        return self.first_failed / self.renders if self.renders else None

    @property
    def review_rate(self) -> float | None:
        return self.sent_to_review / self.renders if self.renders else None

    @property
    def decisions(self) -> int:
        return self.approved + self.rejected + self.rerendered

    @property
    def reject_rate(self) -> float | None:
        return self.rejected / self.decisions if self.decisions else None


def gate_metrics() -> tuple[GateRow, list[GateRow]]:
    """(all templates, per template). "Failing before moderation": the first final attempt's
    verdict was fail or review, i.e. the gate stopped the image before anyone saw it."""
    first_final = RenderAttempt.objects.filter(job=OuterRef("pk"), stage=Stage.FINAL, verification__isnull=False)
    jobs = (
        RenderJob.objects.filter(Exists(first_final))
        .annotate(
            first_verdict=Subquery(first_final.order_by("number").values("verification__verdict")[:1]),
            reviewed=Exists(JobEvent.objects.filter(job=OuterRef("pk"), to_status=JobStatus.NEEDS_REVIEW)),
        )
        .values("template__name", "first_verdict", "reviewed")
    )
    rows: dict[str, GateRow] = {}
    total = GateRow("All templates", 0, 0, 0, 0, 0, 0)

    def row(name: str | None) -> GateRow:
        key = name or "(free prompt)"
        return rows.setdefault(key, GateRow(key, 0, 0, 0, 0, 0, 0))

    for job in jobs:
        for target in (total, row(job["template__name"])):
            target.renders += 1
            target.first_failed += job["first_verdict"] != "pass"
            target.sent_to_review += bool(job["reviewed"])
    actions = {
        ModerationDecision.Action.APPROVE: "approved",
        ModerationDecision.Action.REJECT: "rejected",
        ModerationDecision.Action.RERENDER: "rerendered",
    }
    decided = (
        ModerationDecision.objects.filter(action__in=list(actions))
        .values("job__template__name", "action")
        .annotate(n=Count("pk"))
    )
    for entry in decided:
        field = actions[entry["action"]]
        for target in (total, row(entry["job__template__name"])):
            setattr(target, field, getattr(target, field) + entry["n"])
    return total, sorted(rows.values(), key=lambda r: r.template)


def queue_depth() -> int:
    return RenderJob.objects.filter(status=JobStatus.NEEDS_REVIEW).count()
