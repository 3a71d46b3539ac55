"""Reads for the queues and workers page and the banner every page shows when work is stranded."""

from dataclasses import dataclass, field

from django.core.cache import cache
from django.utils import timezone

from apps.core import queues, sweep_runs, workers
from apps.core.models import SweepRun
from apps.renders.models import AttemptStatus, RenderAttempt

SWEEP_TASK = "renders.sweep_stuck"
ALERT_CACHE_KEY = "metrics:worker-alert"
ALERT_CACHE_SECONDS = 3


@dataclass
class QueueRow:
    name: str
    depth: int | None
    oldest_age_s: float | None
    consumers: list[str]  # live worker nodes consuming it
    error: str = ""

    @property
    def stranded(self) -> bool:
        """Work waits and no live worker will take it."""
        return bool(self.depth) and not self.consumers


@dataclass
class Overview:
    broker: str
    queues: list[QueueRow]
    workers: list[workers.WorkerState]
    in_flight: int  # attempts queued, rendering or verifying
    quarantined: int | None  # unreadable broker messages set aside (filesystem broker only)
    last_sweep: SweepRun | None
    recovering_sweeps: list[SweepRun] = field(default_factory=list)


def operations_overview() -> Overview:
    """Everything the queues page shows (a handful of queries plus one broker read)."""
    now = timezone.now()
    states = workers.worker_states(now=now)
    consumers: dict[str, list[str]] = {}
    for worker in states:
        if worker.live:
            for name in worker.queues:
                consumers.setdefault(name, []).append(worker.node)
    names = [*dict.fromkeys([*queues.queue_names(), *consumers])]
    rows = [
        QueueRow(s.name, s.depth, s.oldest_age_s, consumers.get(s.name, []), s.error)
        for s in queues.queue_states(names=names)
    ]
    latest = sweep_runs.sweep_runs_latest(task=SWEEP_TASK, limit=1)
    return Overview(
        broker=queues.broker_kind(),
        queues=rows,
        workers=states,
        in_flight=_in_flight(),
        quarantined=queues.quarantined_messages(),
        last_sweep=latest[0] if latest else None,
        recovering_sweeps=sweep_runs.sweep_runs_recovering(task=SWEEP_TASK),
    )


def _in_flight() -> int:
    return RenderAttempt.objects.filter(
        status__in=[AttemptStatus.QUEUED, AttemptStatus.RUNNING, AttemptStatus.VERIFYING]
    ).count()


@dataclass(frozen=True)
class WorkerAlert:
    stranded: list[tuple[str, int, float | None]]  # (queue, depth, oldest age s) with no live consumer
    in_flight: int  # attempts in progress while no worker at all is live

    @property
    def message(self) -> str:
        if self.stranded:
            parts = [
                f"{name} ({depth} waiting" + (f", oldest {age:.0f} s)" if age is not None else ")")
                for name, depth, age in self.stranded
            ]
            return f"No live worker consumes {', '.join(parts)}: those renders will not move until a worker runs."
        return f"No worker is running: {self.in_flight} render attempts in progress will not move until one starts."


def worker_alert() -> WorkerAlert | None:
    """Work that no live worker will pick up, or None. Cached for a few seconds per process,
    so every page can ask: on a miss, one or two queries and one broker read."""
    cached = cache.get(ALERT_CACHE_KEY)
    if cached is not None:
        return cached or None
    alert = _worker_alert()
    cache.set(ALERT_CACHE_KEY, alert or False, ALERT_CACHE_SECONDS)
    return alert


def _worker_alert() -> WorkerAlert | None:
    live = workers.live_queues()
    stranded = [
        (s.name, s.depth, s.oldest_age_s)
        for s in queues.queue_states(names=queues.queue_names())
        if s.depth and s.name not in live
    ]
    if stranded:
        return WorkerAlert(stranded=stranded, in_flight=0)
    if not live:
        in_flight = _in_flight()
        if in_flight:
            return WorkerAlert(stranded=[], in_flight=in_flight)
    return None
