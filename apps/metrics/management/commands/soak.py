"""Soak test: push many jobs through the stack `make run` starts, and count what went wrong.

Starts `manage.py run_embedded` (web server + one worker with the sweeper, exactly what
`make run` runs) on the configured database and broker — with no environment that is the
embedded default, SQLite and the filesystem broker under RENDERHUB_VAR_DIR (use a scratch
folder: the jobs stay there). Submits --jobs renders through the JSON API
(`POST /api/v1/renders`, half production-tier editorial covers with a preview and an automatic
final, half preview-tier thumbnails) at --rate per second, then waits for every job to settle.

Reports, as JSON: worker crashes (run_embedded's restarts, heartbeats that stopped, tracebacks
in the worker's log, unreadable broker messages set aside), stuck jobs (not settled by the
deadline, with their status), settled jobs by status, what the sweeper had to recover (each
recovery is a job that waited minutes), and submit → preview / final latency. Exits 1 when
anything crashed or stuck. `RENDERHUB_BUILTIN_LATENCY_SCALE` shortens the simulated engines.
"""

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Sum
from django.utils import timezone

from apps.accounts.services import api_token_create
from apps.core import queues
from apps.core.models import SweepRun, WorkerHeartbeat
from apps.renders.models import SETTLED_STATUSES, JobStatus, RenderJob

ROOT = Path(settings.BASE_DIR)
WORDS = ["Harbour", "Lights", "Spring", "Market", "Opens", "Today", "Kitchen", "Night", "Train", "Sale"]
OVERLAYS = ["SALE", "NEW", "OPEN", "HOT", "FREE", "DEAL"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentiles(values: list[float]) -> dict[str, float | int]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)

    return {"n": len(ordered), "p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99), "max": round(ordered[-1], 1)}


class Command(BaseCommand):
    help = "Push many jobs through run_embedded (what `make run` starts); report crashes, stuck and settled jobs."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--jobs", type=int, default=1000)
        parser.add_argument("--rate", type=float, default=2.0, help="submissions per second")
        parser.add_argument("--concurrency", type=int, default=8, help="the embedded worker's threads")
        parser.add_argument("--settle-timeout", type=float, default=600, help="seconds after the last submission")
        parser.add_argument("--user", default="editor")
        parser.add_argument("--log", default="", help="worker/web log file (default: VAR_DIR/soak-<time>.log)")

    def handle(self, *args: Any, **opts: Any) -> None:
        call_command("migrate", "--noinput", verbosity=0)
        call_command("seed_demo", "--password", "soak-" + os.urandom(6).hex(), stdout=open(os.devnull, "w"))  # noqa: SIM115
        user = get_user_model().objects.filter(username=opts["user"]).first()
        if user is None:
            raise CommandError(f"No user named {opts['user']!r}.")
        token = api_token_create(user=user, name="soak")
        log_path = Path(opts["log"] or settings.VAR_DIR / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.log")
        port = _free_port()
        started_at = timezone.now()
        quarantined_before = queues.quarantined_messages() or 0
        self._scope = (started_at, user)
        server = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "run_embedded",
                "--port",
                str(port),
                "--concurrency",
                str(opts["concurrency"]),
            ],
            cwd=ROOT,
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.stderr.write(f"run_embedded pid {server.pid} on port {port}; log {log_path}")
        try:
            submitted, submit_errors = self._submit(port=port, token=token, opts=opts, log_path=log_path, server=server)
            deadline = time.monotonic() + opts["settle_timeout"]
            while time.monotonic() < deadline and self._unsettled(started_at=started_at, user=user) > 0:
                time.sleep(1)
        finally:
            server.send_signal(signal.SIGTERM)  # run_embedded stops its worker (warm) and itself
            try:
                server.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        report = self._report(
            started_at=started_at,
            user=user,
            submitted=submitted,
            submit_errors=submit_errors,
            log_path=log_path,
            quarantined_before=quarantined_before,
            opts=opts,
        )
        self.stdout.write(json.dumps(report, indent=2))
        if report["worker_crashes"]["total"] or report["stuck_jobs"]["total"] or submit_errors:
            raise SystemExit(1)

    def _submit(
        self, *, port: int, token: str, opts: dict[str, Any], log_path: Path, server: subprocess.Popen
    ) -> tuple[int, list[str]]:
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        client = httpx.Client(base_url=base, timeout=30, headers=headers)
        deadline = time.monotonic() + 90
        while True:  # wait for the web server
            if server.poll() is not None:
                raise CommandError(f"run_embedded exited:\n{log_path.read_text(errors='replace')[-3000:]}")
            try:
                if client.get("/accounts/login/").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise CommandError("run_embedded did not answer within 90 s")
            time.sleep(0.3)
        rng = random.Random(1)
        errors: list[str] = []
        lock = threading.Lock()
        count = {"ok": 0}

        def one(i: int) -> None:
            if i % 2 == 0:
                body = {"template": "editorial-cover", "texts": {"title": " ".join(rng.sample(WORDS, 2))}, "seed": i}
            else:
                body = {"template": "product-thumbnail", "texts": {"overlay": rng.choice(OVERLAYS)}, "seed": i}
            try:
                response = client.post("/api/v1/renders", json=body)
                ok = response.status_code == 202
                message = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                ok, message = False, repr(exc)
            with lock:
                if ok:
                    count["ok"] += 1
                else:
                    errors.append(message)

        interval = 1 / opts["rate"]
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            for i in range(opts["jobs"]):
                time.sleep(max(0.0, start + i * interval - time.monotonic()))
                pool.submit(one, i)
                if i and i % 100 == 0:
                    self.stderr.write(f"submitted {i}; unsettled {self._unsettled_now()}")
        client.close()
        return count["ok"], errors

    def _jobs(self, *, started_at: Any, user: Any) -> Any:
        return RenderJob.objects.filter(created_at__gte=started_at, submitted_by=user, source="api")

    def _settled_q(self) -> Any:
        from django.db.models import Q

        # A preview-tier job rests at its preview until an editor asks for the final. A job
        # admission deferred is not settled: the soak waits for it to run.
        settled = set(SETTLED_STATUSES) - {JobStatus.DEFERRED}
        return Q(status__in=list(settled)) | Q(status=JobStatus.PREVIEW_READY, tier__auto_final=False)

    def _unsettled(self, *, started_at: Any, user: Any) -> int:
        self._scope = (started_at, user)
        return self._jobs(started_at=started_at, user=user).exclude(self._settled_q()).count()

    def _unsettled_now(self) -> str:
        scope = getattr(self, "_scope", None)
        return "?" if scope is None else str(self._unsettled(started_at=scope[0], user=scope[1]))

    def _report(self, *, started_at: Any, user: Any, submitted: int, submit_errors: list[str], log_path: Path,
                quarantined_before: int, opts: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        jobs = self._jobs(started_at=started_at, user=user)
        by_status: dict[str, int] = {}
        for status in jobs.values_list("status", flat=True):
            by_status[status] = by_status.get(status, 0) + 1
        unsettled = jobs.exclude(self._settled_q())
        # A job admission deferred to a time still ahead (or just past: the release runs every
        # 30 s) is waiting by design, not stuck.
        waiting = unsettled.filter(
            status=JobStatus.DEFERRED, defer_until__gte=timezone.now() - timezone.timedelta(seconds=60)
        )
        deferred_waiting = waiting.count()
        stuck_jobs = unsettled.exclude(pk__in=waiting.values("pk"))
        stuck = list(stuck_jobs.values_list("public_id", "status")[:20])
        stuck_total = stuck_jobs.count()
        preview_ms = [
            (p - c).total_seconds() * 1000
            for c, p in jobs.filter(preview_ready_at__isnull=False).values_list("created_at", "preview_ready_at")
        ]
        final_ms = [
            (f - c).total_seconds() * 1000
            for c, f in jobs.filter(status=JobStatus.DELIVERED, tier__auto_final=True).values_list(
                "created_at", "finished_at"
            )
        ]
        log = log_path.read_text(errors="replace")
        restarts = len(re.findall(r"Worker exited \(", log))
        heartbeats = WorkerHeartbeat.objects.filter(started_at__gte=started_at)
        # After the SIGTERM above every worker has shut down: a row without a clean stop crashed.
        crashed_rows = heartbeats.filter(stopped_at__isnull=True).count() + heartbeats.filter(exit_ok=False).count()
        sweeps = SweepRun.objects.filter(started_at__gte=started_at)
        recovered: dict[str, int] = {}
        for result in sweeps.values_list("result", flat=True):
            for kind, n in result.items():
                recovered[kind] = recovered.get(kind, 0) + n
        quarantined = (queues.quarantined_messages() or 0) - quarantined_before
        return {
            "set_up": {
                "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
                "broker": f"{queues.broker_kind()} ({getattr(settings, 'CELERY_BROKER_TRANSPORT', None) or 'default'})",
                "builtin_latency_scale": settings.RENDERHUB_BUILTIN_LATENCY_SCALE,
                "rate_per_s": opts["rate"],
                "worker_threads": opts["concurrency"],
                "log": str(log_path),
            },
            "jobs_requested": opts["jobs"],
            "jobs_submitted": submitted,
            "submit_errors": submit_errors[:10],
            "settled_jobs": {
                "total": jobs.count() - stuck_total - deferred_waiting,
                "by_status": dict(sorted(by_status.items())),
            },
            "deferred_by_admission_still_waiting": deferred_waiting,
            "stuck_jobs": {"total": stuck_total, "first": [[str(i), s] for i, s in stuck]},
            "worker_crashes": {
                "total": max(restarts, crashed_rows) + quarantined,
                "run_embedded_restarts": restarts,
                "heartbeats_without_clean_shutdown": crashed_rows,
                "unreadable_messages_quarantined": quarantined,
                "tracebacks_in_log": log.count("Traceback (most recent call last)"),
                "json_decode_errors_in_log": log.count("JSONDecodeError"),
            },
            "sweeper": {
                "runs": sweeps.count(),
                "recovered": recovered,
                "recovered_total": sweeps.aggregate(n=Sum("recovered"))["n"] or 0,
            },
            "submit_to_preview_ms": _percentiles(preview_ms),
            "submit_to_final_ms": _percentiles(final_ms),
        }
