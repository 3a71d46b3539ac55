"""The three numbers the product exists to move, over a time window: tail latency against each
tier's budget, the gate and moderation outcomes, and cost per delivered image.

A tier's latency budget (`Tier.max_latency_ms`) is measured from submission to the stage at
which the job rests for its editor: the final on tiers whose final follows automatically, the
preview on tiers where the editor asks for the final. A final asked for later is timed from
its first final attempt (the editor's wait is not the pipeline's).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Min, Q
from django.utils import timezone

from apps.core.stats import NO_VALUES, Percentiles, percentiles
from apps.engines.models import engine_label
from apps.moderation.models import ModerationDecision
from apps.policy.models import BudgetLedger
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob, Stage

RANGES: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}
BUCKETS: dict[str, timedelta] = {"hour": timedelta(minutes=5), "day": timedelta(hours=1), "week": timedelta(hours=6)}
SOURCES = ("web", "api", "harness")
OUTCOMES = {
    ModerationDecision.Action.APPROVE: "approved",
    ModerationDecision.Action.REJECT: "rejected",
    ModerationDecision.Action.RERENDER: "rerendered",
}


@dataclass
class LatencyRow:
    """One tier's (or engine's) latencies in ms and its SLA misses in the window."""

    name: str
    budget_ms: int | None
    budget_stage: str  # "preview" | "final" | "" (engines)
    to_preview: Percentiles
    to_final: Percentiles
    measured: int = 0  # jobs that reached the budgeted stage
    misses: int = 0  # of those, over the budget

    @property
    def miss_share(self) -> float | None:
        return self.misses / self.measured if self.measured else None


@dataclass
class CostRow:
    """Money in US dollars: attempts' cost in the window (re-renders, hedges and failed
    attempts included) per delivered image, and today's ledger."""

    name: str
    spent: Decimal = Decimal("0")
    delivered: int = 0
    attempts: int = 0
    limit_today: Decimal | None = None
    spent_today: Decimal | None = None
    reserved_today: Decimal | None = None

    @property
    def per_delivered(self) -> Decimal | None:
        return (self.spent / self.delivered).quantize(Decimal("0.0001")) if self.delivered else None


@dataclass
class GateRow:
    """First-attempt verdicts per stage, escalations and moderation outcomes."""

    name: str
    first_preview: dict[str, int] = field(default_factory=dict)  # verdict -> jobs
    first_final: dict[str, int] = field(default_factory=dict)
    escalations: int = 0
    approved: int = 0
    rejected: int = 0
    rerendered: int = 0

    @property
    def decisions(self) -> int:
        return self.approved + self.rejected + self.rerendered

    @property
    def reject_rate(self) -> float | None:
        return self.rejected / self.decisions if self.decisions else None

    @property
    def first_final_total(self) -> int:
        return sum(self.first_final.values())

    @property
    def first_final_passed(self) -> int:
        return self.first_final.get("pass", 0)

    @property
    def final_pass_rate(self) -> float | None:
        n = self.first_final_total
        return self.first_final_passed / n if n else None


@dataclass
class TemplateRow:
    name: str
    jobs: int = 0
    delivered: int = 0
    to_final: Percentiles = NO_VALUES
    gate: GateRow | None = None
    cost: CostRow | None = None


@dataclass
class Bucket:
    start: datetime
    jobs: int = 0
    delivered: int = 0
    p95_preview: float | None = None
    p95_final: float | None = None
    spent: Decimal = Decimal("0")


@dataclass
class OpsMetrics:
    range: str
    source: str  # "" = every source
    since: datetime
    until: datetime
    by_source: dict[str, int]
    jobs: int
    latency: list[LatencyRow]
    engines: list[LatencyRow]
    cost: list[CostRow]
    cost_total: CostRow
    gate: GateRow
    templates: list[TemplateRow]
    series: list[Bucket]


def _ms(delta: timedelta) -> float:
    return round(delta.total_seconds() * 1000, 1)


def ops_metrics(*, range_: str = "day", source: str = "", now: datetime | None = None) -> OpsMetrics:
    """Latency, gate and cost figures of the jobs submitted in the last `range_` ("hour",
    "day" or "week"), from `source` ("web", "api", "harness" or "" for all).

    Raises KeyError for an unknown range or ValueError for an unknown source.
    """
    if source and source not in SOURCES:
        raise ValueError(f"Unknown source {source!r}.")
    until = now or timezone.now()
    since = until - RANGES[range_]
    in_window = RenderJob.objects.filter(created_at__gte=since, created_at__lte=until)
    by_source = dict.fromkeys(SOURCES, 0)
    for s in in_window.values_list("source", flat=True):
        by_source[s] = by_source.get(s, 0) + 1
    jobs_qs = in_window.filter(source=source) if source else in_window
    jobs = list(
        jobs_qs.annotate(
            final_started=Min("attempts__created_at", filter=Q(attempts__stage=Stage.FINAL)),
        ).values(
            "pk",
            "status",
            "auto_final",
            "created_at",
            "preview_ready_at",
            "finished_at",
            "final_started",
            "tier__name",
            "tier__max_latency_ms",
            "tier__auto_final",
            "template__name",
        )
    )
    job_ids = [j["pk"] for j in jobs]
    attempts = list(
        RenderAttempt.objects.filter(job_id__in=job_ids)
        .order_by("job_id", "number")
        .values(
            "job_id",
            "stage",
            "step",
            "status",
            "cost_usd",
            "timings_ms",
            "engine__name",
            "engine__is_simulation",
            "engine__adapter",
            "verification__verdict",
        )
    )

    tiers: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"preview": [], "final": []})
    tier_rows: dict[str, LatencyRow] = {}
    templates: dict[str, TemplateRow] = {}
    template_finals: dict[str, list[float]] = defaultdict(list)
    bucket_size = BUCKETS[range_]
    buckets: dict[int, Bucket] = {}
    bucket_values: dict[int, dict[str, list[float]]] = defaultdict(lambda: {"preview": [], "final": []})
    job_of: dict[int, dict] = {}

    def bucket_index(at: datetime) -> int:
        return int((at - since) / bucket_size)

    for job in jobs:
        job_of[job["pk"]] = job
        tier = job["tier__name"]
        row = tier_rows.setdefault(
            tier,
            LatencyRow(
                tier,
                job["tier__max_latency_ms"],
                "final" if job["tier__auto_final"] else "preview",
                NO_VALUES,
                NO_VALUES,
            ),
        )
        template = job["template__name"] or "(free prompt)"
        trow = templates.setdefault(template, TemplateRow(template))
        trow.jobs += 1
        index = bucket_index(job["created_at"])
        bucket = buckets.setdefault(index, Bucket(since + index * bucket_size))
        bucket.jobs += 1
        to_preview = to_final = None
        if job["preview_ready_at"]:
            to_preview = _ms(job["preview_ready_at"] - job["created_at"])
        if job["status"] == JobStatus.DELIVERED and job["finished_at"] and job["final_started"]:
            start = job["created_at"] if job["auto_final"] else job["final_started"]
            to_final = _ms(job["finished_at"] - start)
        if job["status"] == JobStatus.DELIVERED:
            trow.delivered += 1
            bucket.delivered += 1
        if to_preview is not None:
            tiers[tier]["preview"].append(to_preview)
            bucket_values[index]["preview"].append(to_preview)
        if to_final is not None:
            tiers[tier]["final"].append(to_final)
            template_finals[template].append(to_final)
            bucket_values[index]["final"].append(to_final)
        budgeted = to_final if job["auto_final"] else to_preview
        if budgeted is not None and job["tier__max_latency_ms"]:
            row.measured += 1
            row.misses += budgeted > job["tier__max_latency_ms"]

    for name, row in tier_rows.items():
        row.to_preview = percentiles(tiers[name]["preview"])
        row.to_final = percentiles(tiers[name]["final"])
    for name, values in template_finals.items():
        templates[name].to_final = percentiles(values)
    for index, values in bucket_values.items():
        buckets[index].p95_preview = percentiles(values["preview"]).p95
        buckets[index].p95_final = percentiles(values["final"]).p95

    engine_values: dict[tuple[str, str], list[float]] = defaultdict(list)
    cost_rows: dict[str, CostRow] = {}
    total = CostRow("All tiers")
    gate = GateRow("All templates")
    template_gates: dict[str, GateRow] = {}
    template_costs: dict[str, CostRow] = {}
    seen_first: set[tuple[int, str]] = set()
    for attempt in attempts:
        job = job_of[attempt["job_id"]]
        template = job["template__name"] or "(free prompt)"
        tgate = template_gates.setdefault(template, GateRow(template))
        tcost = template_costs.setdefault(template, CostRow(template))
        crow = cost_rows.setdefault(job["tier__name"], CostRow(job["tier__name"]))
        for target in (total, crow, tcost):
            target.spent += attempt["cost_usd"]
            target.attempts += 1
        index = bucket_index(job["created_at"])
        buckets[index].spent += attempt["cost_usd"]
        engine_ms = (attempt["timings_ms"] or {}).get("engine")
        if engine_ms is not None and attempt["status"] != AttemptStatus.CANCELLED:
            # As Engine.label: a simulation or the null benchmark engine says so wherever it shows.
            engine = engine_label(
                name=attempt["engine__name"],
                adapter=attempt["engine__adapter"],
                is_simulation=attempt["engine__is_simulation"],
            )
            engine_values[(engine, attempt["stage"])].append(float(engine_ms))
        key = (attempt["job_id"], attempt["stage"])
        verdict = attempt["verification__verdict"]
        if key not in seen_first and verdict:
            seen_first.add(key)
            bucket_name = "first_preview" if attempt["stage"] == Stage.PREVIEW else "first_final"
            for target in (gate, tgate):
                counts = getattr(target, bucket_name)
                counts[verdict] = counts.get(verdict, 0) + 1
        if attempt["step"] not in ("initial", "hedge", "moderator"):
            for target in (gate, tgate):
                target.escalations += 1

    for job in jobs:
        if job["status"] == JobStatus.DELIVERED:
            template = job["template__name"] or "(free prompt)"
            for target in (total, cost_rows.setdefault(job["tier__name"], CostRow(job["tier__name"]))):
                target.delivered += 1
            template_costs.setdefault(template, CostRow(template)).delivered += 1

    today = timezone.localdate(until)
    for ledger in BudgetLedger.objects.filter(day=today, team="").select_related("tier"):
        crow = cost_rows.setdefault(ledger.tier.name, CostRow(ledger.tier.name))
        crow.limit_today, crow.spent_today, crow.reserved_today = (
            ledger.limit_usd,
            ledger.spent_usd,
            ledger.reserved_usd,
        )

    decisions = ModerationDecision.objects.filter(
        job_id__in=job_ids,
        action__in=list(OUTCOMES),
    ).values_list("job_id", "action")
    outcome = OUTCOMES
    for job_id, action in decisions:
        template = job_of[job_id]["template__name"] or "(free prompt)"
        for target in (gate, template_gates.setdefault(template, GateRow(template))):
            setattr(target, outcome[action], getattr(target, outcome[action]) + 1)

    engines = [
        LatencyRow(f"{name} · {stage}", None, "", percentiles(values), NO_VALUES)
        for (name, stage), values in sorted(engine_values.items())
    ]
    for name, trow in templates.items():
        trow.gate = template_gates.get(name, GateRow(name))
        trow.cost = template_costs.get(name, CostRow(name))
    count = int(RANGES[range_] / bucket_size)
    series = [buckets.get(i, Bucket(since + i * bucket_size)) for i in range(count)]
    return OpsMetrics(
        range=range_,
        source=source,
        since=since,
        until=until,
        by_source=by_source,
        jobs=len(jobs),
        latency=sorted(tier_rows.values(), key=lambda r: r.name),
        engines=engines,
        cost=sorted(cost_rows.values(), key=lambda r: r.name),
        cost_total=total,
        gate=gate,
        templates=sorted(templates.values(), key=lambda r: r.name),
        series=series,
    )
