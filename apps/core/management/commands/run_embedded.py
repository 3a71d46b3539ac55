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

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from apps.core.heartbeats import RESTARTS_ENV


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
        state = {"worker": subprocess.Popen(command), "stopping": False, "restarts": 0}
        self.stdout.write(f"Worker started (pid {state['worker'].pid}) on queues {queues}.")
        self.stdout.write(f"RenderHub is at http://{host}:{port}/ (Ctrl-C stops web and worker).")

        def watch() -> None:
            # A worker that dies would leave jobs queued with nothing to run them: start a new
            # one (queued messages wait in the broker; the sweeper recovers interrupted attempts).
            while not state["stopping"]:
                time.sleep(2)
                if state["worker"].poll() is not None and not state["stopping"]:
                    self.stderr.write(f"Worker exited ({state['worker'].returncode}); starting a new one.")
                    state["restarts"] += 1
                    # The new worker's heartbeat carries the count (the queues page shows it).
                    env = {**os.environ, RESTARTS_ENV: str(state["restarts"])}
                    state["worker"] = subprocess.Popen(command, env=env)

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
