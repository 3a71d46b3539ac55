"""Who is working: worker processes from their heartbeats (apps/core/heartbeats.py).

A process is live while its heartbeat is younger than RENDERHUB_HEARTBEAT_DEAD_SECONDS (default
10 s, five missed beats) and it has not shut down. A crash is a process whose heartbeats stopped
without a shutdown, or that shut down on an error.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.core.models import WorkerHeartbeat


def dead_after_s() -> float:
    return float(getattr(settings, "RENDERHUB_HEARTBEAT_DEAD_SECONDS", 10.0))


@dataclass
class WorkerState:
    node: str
    live: bool
    last_seen_at: datetime
    heartbeat_age_s: float
    queues: list[str]
    pool: str
    concurrency: int
    processes: int  # live processes (main + prefork children)
    current_tasks: list[dict[str, str]] = field(default_factory=list)  # [{"id", "name", "started_at"}]
    tasks_started: int = 0  # by its live processes
    crashes: int = 0  # processes whose heartbeats stopped without a shutdown, or that stopped on an error
    # (a main process and the prefork children that died with it count once)
    restarts: int = 0  # times run_embedded started it again


def _crashed(row: WorkerHeartbeat, *, stale_before: datetime) -> bool:
    return row.exit_ok is False or (row.stopped_at is None and row.last_seen_at < stale_before)


def _crash_rows(rows: list[WorkerHeartbeat], *, stale_before: datetime) -> list[WorkerHeartbeat]:
    """Crashed processes, a main process and the prefork children that went with it (their
    heartbeats stopped within the dead-after window of its own) counted once."""
    crashed = [r for r in rows if _crashed(r, stale_before=stale_before)]
    mains = [r for r in crashed if r.role == "main"]
    mains_at = [r.last_seen_at for r in mains]
    window = timezone.timedelta(seconds=dead_after_s())
    children = [r for r in crashed if r.role != "main" and all(abs(r.last_seen_at - m) > window for m in mains_at)]
    return [*mains, *children]


def _crashes(rows: list[WorkerHeartbeat], *, stale_before: datetime) -> int:
    return len(_crash_rows(rows, stale_before=stale_before))


def worker_states(*, now: datetime | None = None) -> list[WorkerState]:
    """One entry per Celery node seen in the last week, live ones first, then by name."""
    now = now or timezone.now()
    stale_before = now - timezone.timedelta(seconds=dead_after_s())
    by_node: dict[str, list[WorkerHeartbeat]] = {}
    for row in WorkerHeartbeat.objects.order_by("-last_seen_at")[:2000]:
        by_node.setdefault(row.node, []).append(row)
    states = []
    for node, rows in by_node.items():
        live = [r for r in rows if r.stopped_at is None and r.last_seen_at >= stale_before]
        main = next((r for r in live if r.role == "main"), None) or next((r for r in rows if r.role == "main"), rows[0])
        latest = rows[0]
        states.append(
            WorkerState(
                node=node,
                live=bool(live),
                last_seen_at=latest.last_seen_at,
                heartbeat_age_s=max(0.0, (now - latest.last_seen_at).total_seconds()),
                queues=main.queues or sorted({q for r in rows for q in r.queues}),
                pool=main.pool,
                concurrency=main.concurrency,
                processes=len(live),
                current_tasks=sorted((t for r in live for t in r.current_tasks), key=lambda t: t.get("started_at", "")),
                tasks_started=sum(r.tasks_started for r in live),
                crashes=_crashes(rows, stale_before=stale_before),
                restarts=max(r.restarts for r in rows),
            )
        )
    return sorted(states, key=lambda s: (not s.live, s.node))


def live_queues(*, now: datetime | None = None) -> set[str]:
    """Queues that at least one live worker process consumes (one query)."""
    now = now or timezone.now()
    rows = WorkerHeartbeat.objects.filter(
        Q(stopped_at__isnull=True), last_seen_at__gte=now - timezone.timedelta(seconds=dead_after_s())
    ).values_list("queues", flat=True)
    return {queue for queues in rows for queue in queues}


@dataclass(frozen=True)
class Crash:
    node: str
    pid: int
    at: datetime  # its last heartbeat (or the moment run_embedded saw it exit)
    replaced: bool  # a live process of the same node runs now (run_embedded started a new one)


def recent_crashes(*, within_s: float, now: datetime | None = None) -> tuple[set[str], list[Crash]]:
    """Live queues (as `live_queues`) and the worker processes that crashed in the last
    `within_s` seconds (at least the dead-after window), newest first, from one query on
    `last_seen_at`. A crash: heartbeats stopped without a shutdown (seen once they are
    RENDERHUB_HEARTBEAT_DEAD_SECONDS old), or a shutdown on an error (run_embedded records one
    the moment its worker exits). A main process and the prefork children that went with it
    count once."""
    now = now or timezone.now()
    stale_before = now - timezone.timedelta(seconds=dead_after_s())
    since = now - timezone.timedelta(seconds=max(within_s, dead_after_s()))
    rows = list(WorkerHeartbeat.objects.filter(last_seen_at__gte=since).order_by("-last_seen_at"))
    live = [r for r in rows if r.stopped_at is None and r.last_seen_at >= stale_before]
    live_nodes = {r.node for r in live}
    crashes = [
        Crash(node=r.node, pid=r.pid, at=r.stopped_at or r.last_seen_at, replaced=r.node in live_nodes)
        for r in sorted(_crash_rows(rows, stale_before=stale_before), key=lambda r: r.stopped_at or r.last_seen_at)
    ]
    return {queue for r in live for queue in r.queues}, crashes[::-1]
