"""Reads for the queues and workers page and the banner every page shows when work is stranded."""

from dataclasses import dataclass, field

from django.conf import settings
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
    crashes: list[workers.Crash] = field(default_factory=list)  # worker processes that died lately

    @property
    def stuck(self) -> bool:
        """Work will not move until someone starts a worker (else: a crash the system survives)."""
        return bool(self.stranded or self.in_flight)

    @property
    def message(self) -> str:
        if self.stranded:
            parts = [
                f"{name} ({depth} waiting" + (f", oldest {age:.0f} s)" if age is not None else ")")
                for name, depth, age in self.stranded
            ]
            return f"No live worker consumes {', '.join(parts)}: those renders will not move until a worker runs."
        if self.in_flight:
            return f"No worker is running: {self.in_flight} render attempts in progress will not move until one starts."
        return self.crash_message

    @property
    def crash_message(self) -> str:
        if not self.crashes:
            return ""
        crash = self.crashes[0]
        n = len(self.crashes)
        more = f" ({n} crashes in the last {crash_notice_s() // 60} minutes)" if n > 1 else ""
        at = timezone.localtime(crash.at).strftime("%H:%M:%S")
        then = "a new one is running" if crash.replaced else "no worker has taken its place yet"
        return (
            f"{crash.node} (pid {crash.pid}) at {at}{more}; {then}. Renders it was running "
            f"continue when the sweeper recovers them, within about {recovery_s() // 60 + 1} minutes."
        )


def recovery_s() -> int:
    """How long the sweeper may take to recover what a dead worker held: a QUEUED or VERIFYING
    attempt is sent again RENDERHUB_REQUEUE_AFTER_S after it was, a RUNNING one when its lease
    (RENDERHUB_LEASE_S) runs out; the sweeper runs every RENDERHUB_SWEEP_INTERVAL_S."""
    longest = max(settings.RENDERHUB_REQUEUE_AFTER_S, settings.RENDERHUB_LEASE_S)
    return int(longest + settings.RENDERHUB_SWEEP_INTERVAL_S)


def crash_notice_s() -> int:
    """A crash stays on every page while what it held may still wait for the sweeper; a crash
    is seen up to RENDERHUB_HEARTBEAT_DEAD_SECONDS late (when no supervisor records it)."""
    return int(recovery_s() + workers.dead_after_s() + 30)


def worker_alert() -> WorkerAlert | None:
    """Work that no live worker will pick up, or a worker that crashed lately, or None. Cached
    for a few seconds per process, so every page can ask: on a miss, one or two queries and
    one broker read."""
    cached = cache.get(ALERT_CACHE_KEY)
    if cached is not None:
        return cached or None
    alert = _worker_alert()
    cache.set(ALERT_CACHE_KEY, alert or False, ALERT_CACHE_SECONDS)
    return alert


def _worker_alert() -> WorkerAlert | None:
    live, crashes = workers.recent_crashes(within_s=crash_notice_s())
    stranded = [
        (s.name, s.depth, s.oldest_age_s)
        for s in queues.queue_states(names=queues.queue_names())
        if s.depth and s.name not in live
    ]
    in_flight = _in_flight() if not stranded and not live else 0
    if stranded or in_flight or crashes:
        return WorkerAlert(stranded=stranded, in_flight=in_flight, crashes=crashes)
    return None
