"""Start a Celery worker (with the periodic sweeper) and the web server together.

For trying RenderHub on one machine: with no environment this is the embedded default
(SQLite + filesystem broker). In production run gunicorn and the workers separately
(README: "Running on PostgreSQL + Redis").
"""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime

from celery import current_app
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.utils import timezone

from apps.core.heartbeats import RESTARTS_ENV, heartbeat_mark_crashed


def _start(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """The worker in a process group of its own (the same session, so the same CPU autogroup:
    apps/core/priority.py), which its embedded beat process (`-B`) joins."""
    return subprocess.Popen(command, env=env, process_group=0)


def _stop_group(pgid: int) -> None:
    """Stop what is left of a worker's process group. A worker killed outright (SIGKILL, the
    OOM killer) leaves its beat process running as an orphan: it went on sending the sweeper
    and the other periodic tasks beside the new worker's own beat, and outlived run_embedded."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass


class Command(BaseCommand):
    help = "Run the web server and a Celery worker together (embedded default)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--concurrency", type=int, default=8)

    def handle(self, *args: object, port: int, host: str, concurrency: int, **options: object) -> None:
        queues = ",".join([*settings.RENDERHUB_QUEUES.values(), "default"])
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "renderhub",
            "worker",
            "-B",
            "-Q",
            queues,
            "--pool",
            "threads",
            "-c",
            str(concurrency),
            "-l",
            "warning",
            "-s",
            str(settings.VAR_DIR / "celerybeat-schedule"),
        ]
        state = {"worker": _start(command), "stopping": False, "restarts": 0, "since": timezone.now()}
        self.stdout.write(f"Worker started (pid {state['worker'].pid}) on queues {queues}.")
        self.stdout.write(f"RenderHub is at http://{host}:{port}/ (Ctrl-C stops web and worker).")

        def watch() -> None:
            # A worker that dies would leave jobs queued with nothing to run them: start a new
            # one (queued messages wait in the broker; the sweeper recovers interrupted attempts).
            while not state["stopping"]:
                time.sleep(2)
                if state["worker"].poll() is not None and not state["stopping"]:
                    self.stderr.write(f"Worker exited ({state['worker'].returncode}); starting a new one.")
                    self._record_crash(pid=state["worker"].pid, started_after=state["since"])
                    _stop_group(state["worker"].pid)
                    state["restarts"] += 1
                    state["since"] = timezone.now()
                    # The new worker's heartbeat carries the count (the queues page shows it).
                    env = {**os.environ, RESTARTS_ENV: str(state["restarts"])}
                    state["worker"] = _start(command, env=env)
                    self._resend_lost_work()

        threading.Thread(target=watch, daemon=True).start()
        # `kill PID` sends SIGTERM, whose default action ends the process without running the
        # `finally` below: the worker (and its beat) would live on as orphans.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        try:
            call_command("runserver", f"{host}:{port}", use_reloader=False)
        finally:
            state["stopping"] = True
            worker = state["worker"]
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
            _stop_group(worker.pid)

    def _resend_lost_work(self) -> None:
        """What the dead worker had taken from the broker runs on the new one within seconds
        (the task, by name: renders.sweep_after_worker_crash), not after the sweeper's wait."""
        try:
            current_app.send_task("renders.sweep_after_worker_crash")
        except Exception as exc:  # the periodic sweeper still recovers it, later
            self.stderr.write(f"Could not ask for the dead worker's work to be sent again: {exc!r}")

    def _record_crash(self, *, pid: int, started_after: datetime) -> None:
        """Every page's banner shows the crash within seconds (apps/metrics/queue_health.py)."""
        try:
            heartbeat_mark_crashed(pid=pid, started_after=started_after)
        except Exception as exc:  # the database may be away; the heartbeat goes stale anyway
            self.stderr.write(f"Could not record the worker's crash: {exc!r}")
        finally:
            connection.close()
