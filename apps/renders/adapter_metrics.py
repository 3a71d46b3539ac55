"""Renders split by the adapter their first final attempt used: did the adapter earn its place?

One `AdapterArm` per adapter actually applied, plus one for renders without an adapter (the
template had none, it was left off on purpose, or the engine could not apply it). A job counts
in the arm of its first final attempt (the gate's first pass); jobs that never reached a final
attempt are not counted.

- first-pass rate: the first final attempt passed the gate / jobs whose first final was verified;
- escalations: final attempts after the first (stronger guidance, another engine, compositing);
- moderation reject rate: jobs a moderator rejected / jobs that reached the moderation queue;
- cost per delivered image: every cent the arm's jobs cost (previews, escalations, failures
  included) / delivered jobs, in US$.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Exists, OuterRef, QuerySet

from apps.renders.models import AdapterUse, JobEvent, JobStatus, RenderAttempt, RenderJob, Stage

WITHOUT = ""  # the arm key of renders without an applied adapter


@dataclass
class AdapterArm:
    key: str  # the adapter's slug, or WITHOUT
    label: str
    jobs: int = 0
    judged: int = 0  # first final attempt has a gate verdict
    first_pass: int = 0
    escalated: int = 0  # jobs with more than one final attempt
    escalations: int = 0  # final attempts after the first
    reviewed: int = 0  # reached the moderation queue
    rejected: int = 0
    delivered: int = 0
    cost_usd: Decimal = Decimal("0")
    not_applied: int = 0  # first final asked for an adapter the engine could not apply
    left_off: int = 0  # first final left the adapter off on purpose
    job_ids: list[int] = field(default_factory=list)

    @property
    def first_pass_rate(self) -> float | None:
        return self.first_pass / self.judged if self.judged else None

    @property
    def escalations_per_job(self) -> float | None:
        return self.escalations / self.jobs if self.jobs else None

    @property
    def reject_rate(self) -> float | None:
        return self.rejected / self.reviewed if self.reviewed else None

    @property
    def cost_per_delivered(self) -> Decimal | None:
        return (self.cost_usd / self.delivered).quantize(Decimal("0.0001")) if self.delivered else None


@dataclass(frozen=True)
class ArmDelta:
    """With the adapter minus without (None where either side has no data)."""

    first_pass_rate: float | None
    escalations_per_job: float | None
    reject_rate: float | None
    cost_per_delivered: Decimal | None


def _minus(a: float | Decimal | None, b: float | Decimal | None):  # type: ignore[no-untyped-def]
    return None if a is None or b is None else a - b


def adapter_arms(*, jobs: QuerySet[RenderJob]) -> list[AdapterArm]:
    """The jobs split by the adapter of their first final attempt: the arm without an adapter
    first (always present), then one per adapter by name. Two queries."""
    rows = jobs.annotate(
        reviewed=Exists(JobEvent.objects.filter(job=OuterRef("pk"), to_status=JobStatus.NEEDS_REVIEW))
    ).values("pk", "status", "actual_cost_usd", "reviewed")
    job_rows = {r["pk"]: r for r in rows}
    finals: dict[int, list[dict[str, object]]] = {}
    attempts = (
        RenderAttempt.objects.filter(job_id__in=list(job_rows), stage=Stage.FINAL)
        .order_by("job_id", "number")
        .values("job_id", "adapter_use", "adapter__slug", "adapter__name", "verification__verdict")
    )
    for a in attempts:
        finals.setdefault(int(a["job_id"]), []).append(a)  # type: ignore[call-overload]
    arms: dict[str, AdapterArm] = {WITHOUT: AdapterArm(WITHOUT, "Without adapter")}
    for job_id, job_finals in finals.items():
        first, job = job_finals[0], job_rows[job_id]
        applied = first["adapter_use"] == AdapterUse.APPLIED
        key = str(first["adapter__slug"]) if applied else WITHOUT
        arm = arms.setdefault(key, AdapterArm(key, f"With {first['adapter__name']}"))
        arm.jobs += 1
        arm.job_ids.append(job_id)
        verdict = first["verification__verdict"]
        arm.judged += verdict is not None
        arm.first_pass += verdict == "pass"
        arm.escalations += len(job_finals) - 1
        arm.escalated += len(job_finals) > 1
        arm.reviewed += bool(job["reviewed"])
        arm.rejected += job["status"] == JobStatus.REJECTED
        arm.delivered += job["status"] == JobStatus.DELIVERED
        arm.cost_usd += job["actual_cost_usd"]
        arm.not_applied += first["adapter_use"] == AdapterUse.UNSUPPORTED
        arm.left_off += first["adapter_use"] == AdapterUse.OFF
    without = arms.pop(WITHOUT)
    return [without, *sorted(arms.values(), key=lambda a: a.label)]


def arm_delta(*, with_adapter: AdapterArm, without: AdapterArm) -> ArmDelta:
    return ArmDelta(
        first_pass_rate=_minus(with_adapter.first_pass_rate, without.first_pass_rate),
        escalations_per_job=_minus(with_adapter.escalations_per_job, without.escalations_per_job),
        reject_rate=_minus(with_adapter.reject_rate, without.reject_rate),
        cost_per_delivered=_minus(with_adapter.cost_per_delivered, without.cost_per_delivered),
    )


def arm_deltas(arms: Iterable[AdapterArm]) -> list[tuple[AdapterArm, ArmDelta]]:
    """Each adapter arm with its difference from the first (without) arm."""
    arms = list(arms)
    return [(arm, arm_delta(with_adapter=arm, without=arms[0])) for arm in arms[1:]]
