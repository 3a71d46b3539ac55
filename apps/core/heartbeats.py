"""Worker heartbeats: each Celery worker process writes a WorkerHeartbeat row every few seconds.

Started on `worker_ready` (the main process: thread and solo pools run their tasks there) and on
`worker_process_init` (each prefork child), so every process that runs tasks reports what it is
running. Written through the database, it works on every broker, the embedded filesystem one
included, and is read by any number of web processes. A process that dies without a clean
shutdown simply stops writing: its row goes stale, which the queues page counts as a crash.

Settings: RENDERHUB_HEARTBEAT_SECONDS (interval, default 2 s).
"""

import logging
import os
import threading
from datetime import datetime
from typing import Any

from celery.signals import (
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

log = logging.getLogger(__name__)

RESTARTS_ENV = "RENDERHUB_WORKER_RESTARTS"  # set by run_embedded when it starts a worker again
KEEP_DAYS = 7

_lock = threading.Lock()
_running: dict[str, dict[str, str]] = {}  # task id -> {"id", "name", "started_at"}
_state: dict[str, Any] = {"pid": None, "row": None, "stop": None, "started": 0, "fields": {}}


def _consumed_queues(app: Any) -> list[str]:
    consume_from = getattr(app.amqp.queues, "consume_from", None) or {}
    return sorted(consume_from)


def heartbeat_start(*, node: str, role: str, pool: str, concurrency: int, queues: list[str]) -> None:
    """Create this process's row and start the thread that refreshes it (once per process)."""
    fields = {"node": node, "role": role, "pool": pool, "concurrency": concurrency, "queues": queues}
    if _state["pid"] == os.getpid():  # solo pool: worker_process_init, then worker_ready
        _state["fields"].update(fields)
        return
    _state.update(pid=os.getpid(), row=None, stop=threading.Event(), started=0, fields=fields)
    with _lock:
        _running.clear()
    threading.Thread(target=_beat, args=(_state["stop"],), name="renderhub-heartbeat", daemon=True).start()


def _write(now: datetime) -> None:
    from apps.core.models import WorkerHeartbeat

    with _lock:
        tasks = sorted(_running.values(), key=lambda t: t["started_at"])
        started = _state["started"]
    values = {**_state["fields"], "current_tasks": tasks, "tasks_started": started, "last_seen_at": now}
    if _state["row"] is None or WorkerHeartbeat.objects.filter(pk=_state["row"]).update(**values) == 0:
        row = WorkerHeartbeat.objects.create(
            pid=os.getpid(), restarts=int(os.environ.get(RESTARTS_ENV, "0") or 0), started_at=now, **values
        )
        _state["row"] = row.pk
        if _state["fields"]["role"] == "main":
            WorkerHeartbeat.objects.filter(last_seen_at__lt=now - timezone.timedelta(days=KEEP_DAYS)).delete()


def _beat(stop: threading.Event) -> None:
    interval = float(getattr(settings, "RENDERHUB_HEARTBEAT_SECONDS", 2.0))
    while True:
        try:
            close_old_connections()
            _write(timezone.now())
        except Exception:  # the database may be briefly away; the next beat tries again
            log.warning("worker heartbeat could not be written", exc_info=True)
            connection.close()
        if stop.wait(interval):
            break
    connection.close()


def heartbeat_stop(*, ok: bool) -> None:
    """Mark this process's row stopped (a clean shutdown, or one on an error when not ok)."""
    from apps.core.models import WorkerHeartbeat

    if _state["pid"] != os.getpid() or _state["stop"] is None:
        return
    _state["stop"].set()
    if _state["row"] is not None:
        try:
            now = timezone.now()
            WorkerHeartbeat.objects.filter(pk=_state["row"]).update(
                stopped_at=now, last_seen_at=now, exit_ok=ok, current_tasks=[]
            )
        except Exception:
            log.warning("worker heartbeat could not record the shutdown", exc_info=True)


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    controller = getattr(sender, "controller", None)
    heartbeat_start(
        node=str(getattr(sender, "hostname", "") or "celery"),
        role="main",
        pool=type(getattr(sender, "pool", None)).__module__.rpartition(".")[2],  # prefork | thread | solo …
        concurrency=int(getattr(controller, "concurrency", 0) or 0),
        queues=_consumed_queues(sender.app),
    )


@worker_process_init.connect
def _on_worker_process_init(sender: Any = None, **_: Any) -> None:
    from celery import current_app

    heartbeat_start(node=str(sender or "celery"), role="child", pool="", concurrency=1, queues=[])
    _state["fields"]["queues"] = _consumed_queues(current_app)


@worker_shutdown.connect
def _on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    heartbeat_stop(ok=getattr(sender, "exitcode", None) in (None, 0))


@worker_process_shutdown.connect
def _on_worker_process_shutdown(exitcode: int | None = None, **_: Any) -> None:
    heartbeat_stop(ok=exitcode in (None, 0))


@task_prerun.connect
def _on_task_prerun(task_id: str = "", task: Any = None, **_: Any) -> None:
    entry = {"id": task_id, "name": getattr(task, "name", "?"), "started_at": timezone.now().isoformat()}
    with _lock:
        _running[task_id] = entry
        _state["started"] += 1


@task_postrun.connect
def _on_task_postrun(task_id: str = "", **_: Any) -> None:
    with _lock:
        _running.pop(task_id, None)


def heartbeat_mark_crashed(*, pid: int, started_after: datetime) -> int:
    """Record that the worker process `pid` (started after `started_after`) died without a
    shutdown, for a supervisor that saw it exit (run_embedded): its row shows the crash at once
    instead of after RENDERHUB_HEARTBEAT_DEAD_SECONDS of silence. A row already stopped (a clean
    or recorded shutdown) is left alone. Returns the rows marked."""
    from apps.core.models import WorkerHeartbeat

    return WorkerHeartbeat.objects.filter(pid=pid, started_at__gte=started_after, stopped_at__isnull=True).update(
        stopped_at=timezone.now(), exit_ok=False, current_tasks=[]
    )
