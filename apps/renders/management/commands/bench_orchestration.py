"""Orchestration cost per job: latency, SQL statements and CPU per component, one job at a time.

Runs against the configured PostgreSQL and Redis (DATABASE_URL, CELERY_BROKER_URL) with real
processes it starts itself: gunicorn (sync, `--web-workers`) and two Celery thread-pool
workers (preview and final queues, as the Procfile), all with DEBUG off. The engine is the
`null` engine kind (a cached PNG, no rendering, no waiting: `apps/engines/adapters/null.py`),
or `--engine builtin` (the simulation with zero latency, which renders), on benchmark tiers
with verification and hedging off, so what is measured is the orchestration around the call.

Phases:
1. statements: `--count-jobs` jobs submitted in this process through the API (Django's test
   client) with the enqueue step captured instead of sent; each captured task then runs in
   this process. Django's CaptureQueriesContext counts statements for the submission and for
   each task (median over the jobs, after one warm-up job).
2. latency and CPU: `--warmup` untimed jobs, then `--jobs` jobs one at a time, POSTed over
   HTTP to gunicorn; the next is sent once the last came to rest. Latency is from just
   before the POST (wall clock) to the job's `finished_at` (or `preview_ready_at` for the
   preview tier), written by the worker on the same machine's clock. CPU-ms per job per
   component from /proc (`apps.core.procstat`): web (gunicorn), workers, PostgreSQL
   (backends of this database, except this process's own polling connection), Redis (the
   whole server: shared with anything else using it, so an upper bound).

Prints JSON: percentiles in ms (p50/p95/p99), per stage, statements per job, CPU-ms per job,
the load average before and after and `foreign_cores` (CPU other processes used meanwhile).
Needs DEBUG=true for manage.py itself (the started processes run with DEBUG off).
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.accounts.roles import EDITOR
from apps.accounts.services import api_token_create, roles_sync
from apps.core import procstat
from apps.core.stats import percentile_interpolated as percentile
from apps.engines.models import Engine
from apps.policy.models import AssetClass, Tier
from apps.renders.models import JobStatus, RenderAttempt, RenderJob
from apps.renders.pipeline import enqueue

QUEUES = {"preview": "bench.preview", "final": "bench.final"}
PROMPT = 'Harbour poster at dusk with the words "Harbour Lights" in bold letters'


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(percentile(values, 0.5), 1),
        "p95": round(percentile(values, 0.95), 1),
        "p99": round(percentile(values, 0.99), 1),
        "max": round(max(values), 1) if values else float("nan"),
    }


def bench_fixtures(*, engine_kind: str) -> dict[str, str]:
    """The benchmark's engine, tiers and asset classes (idempotent). Returns {kind: asset class}."""
    if engine_kind == "null":
        defaults: dict[str, Any] = {"name": "Null (benchmark)", "adapter": "null", "is_simulation": True}
    else:
        defaults = {
            "name": "Built-in, zero latency (benchmark)",
            "adapter": "builtin",
            "is_simulation": True,
            "params": {"latency_p50_ms": 0, "latency_sigma": 0, "typo_rate": 0},
        }
    engine, _ = Engine.objects.update_or_create(
        slug=f"bench-{engine_kind}", defaults={**defaults, "price_usd": Decimal("0"), "enabled": True}
    )
    classes = {}
    for kind, auto_final in (("production", True), ("preview", False)):
        tier, _ = Tier.objects.update_or_create(
            slug=f"bench-{kind}",
            defaults={
                "name": f"Bench {kind}",
                "preview_engine": engine,
                "final_engine": engine,
                "fallback_engine": None,
                "max_latency_ms": 2200 if auto_final else 800,
                "auto_final": auto_final,
                "final_with_preview": auto_final,
                "verify_ocr": False,
                "hedge_previews": False,
                "max_attempts": 5,
                "daily_budget_usd": Decimal("99999"),
                "allow_unpriced": True,
                "preview_queue": QUEUES["preview"],
                "final_queue": QUEUES["final"],
            },
        )
        AssetClass.objects.update_or_create(slug=f"bench-{kind}", defaults={"name": f"Bench {kind}", "tier": tier})
        classes[kind] = f"bench-{kind}"
    return classes


def bench_fixtures_retire() -> None:
    """After a run: the bench asset classes go, the bench engines are disabled and the bench
    user's tokens revoked, so editors and the API no longer offer them. The tiers stay (the
    bench's jobs refer to them)."""
    from apps.accounts.models import ApiToken
    from apps.accounts.services import api_token_revoke

    AssetClass.objects.filter(slug__in=["bench-production", "bench-preview"]).delete()
    Engine.objects.filter(slug__startswith="bench-").update(enabled=False)
    for token in ApiToken.objects.filter(user__username="bench", revoked=False):
        api_token_revoke(token=token)


def bench_token() -> str:
    roles_sync()
    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"email": "bench@example.invalid"})
    user.groups.set([Group.objects.get(name=EDITOR)])
    return api_token_create(user=user, name="bench_orchestration")


def count_statements(*, token: str, asset_class: str, jobs: int) -> dict[str, Any]:
    """Statements per job, in this process: submission (the API view) and each task it leads to."""
    client = Client(HTTP_HOST="127.0.0.1")
    sent: list[tuple[str, dict[str, int]]] = []

    def capture(task: str, *, kwargs: dict[str, int], queue: str, countdown: float | None = None) -> None:
        sent.append((task, kwargs))

    submit_counts, task_counts, total_counts = [], [], []
    per_task: dict[str, list[int]] = {}
    samples: dict[str, list[str]] = {}
    with mock.patch.object(enqueue, "_send", capture):
        for i in range(jobs + 1):
            reset_queries()  # DEBUG keeps only the last 9000 statements
            with CaptureQueriesContext(connection) as q:
                response = client.post(
                    "/api/v1/renders",
                    data=json.dumps({"prompt": PROMPT, "asset_class": asset_class, "seed": i}),
                    content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {token}",
                )
            if response.status_code != 202:
                raise CommandError(f"submission answered {response.status_code}: {response.content[:300]!r}")
            job_tasks, this_job = 0, {}
            while sent:
                task, kwargs = sent.pop(0)
                with CaptureQueriesContext(connection) as t:
                    current_app.tasks[task].run(**kwargs)
                job_tasks += len(t)
                this_job.setdefault(task, []).append(len(t))
                if i == jobs:
                    samples.setdefault(task, [s["sql"][:160] for s in t.captured_queries])
            if i == 0:
                continue  # warm-up: first use of each connection, cache and content type
            if i == jobs:
                samples["submit"] = [s["sql"][:160] for s in q.captured_queries]
            submit_counts.append(len(q))
            task_counts.append(job_tasks)
            total_counts.append(len(q) + job_tasks)
            for task, counts in this_job.items():
                per_task.setdefault(task, []).append(sum(counts))
    return {
        "submit": statistics.median(submit_counts),
        "tasks": statistics.median(task_counts),
        "per_job": statistics.median(total_counts),
        "per_task": {task: statistics.median(c) for task, c in per_task.items()},
        "last_job_sql": samples,
    }


class Processes:
    """gunicorn and the two workers, started with DEBUG off; stopped on exit."""

    def __init__(self, *, port: int, web_workers: int, concurrency: int):
        bin_dir = Path(sys.executable).parent
        env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": "bench-orchestration-not-secret",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
        }
        base = [str(bin_dir / "celery"), "-A", "renderhub", "worker", "--pool", "threads", "-c", str(concurrency)]
        self.web = subprocess.Popen(
            [
                str(bin_dir / "gunicorn"),
                "renderhub.wsgi",
                "-w",
                str(web_workers),
                "-b",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=subprocess.DEVNULL,
        )
        self.workers = [
            subprocess.Popen(
                [*base, "-n", f"bench-{stage}@%h", "-Q", queue, "-l", "warning"],
                env=env,
                cwd=settings.BASE_DIR,
                stdout=subprocess.DEVNULL,
            )
            for stage, queue in QUEUES.items()
        ]

    def wait_ready(self, *, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        while time.monotonic() < deadline:
            replies = current_app.control.ping(timeout=1) or []
            names = {name for reply in replies for name in reply}
            if sum(1 for n in names if n.startswith("bench-")) >= len(QUEUES):
                return
        raise CommandError("gunicorn or the workers did not start in time")

    def stop(self) -> None:
        for proc in [self.web, *self.workers]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [self.web, *self.workers]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def redis_pids() -> list[int]:
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "redis-server":
                found.append(int(comm.parent.name))
        except OSError:
            continue
    return found


def pg_backends() -> list[int]:
    with connection.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return [row[0] for row in cur.fetchall()]


def cpu_snapshot(procs: Processes) -> dict[str, Any]:
    backends = pg_backends()
    return {
        "web": procstat.cpu_ms([procs.web.pid], children=True),
        "workers": procstat.cpu_ms([w.pid for w in procs.workers], children=True),
        "pg_by_pid": {pid: procstat.cpu_ms([pid]) for pid in backends},
        "redis": procstat.cpu_ms(redis_pids()),
        "self": procstat.cpu_ms([os.getpid()]),
        "machine": procstat.machine_busy_ms(),
        "wall": time.monotonic(),
    }


def cpu_per_job(before: dict[str, Any], after: dict[str, Any], jobs: int) -> dict[str, float]:
    pg = sum(ms - before["pg_by_pid"].get(pid, 0.0) for pid, ms in after["pg_by_pid"].items())
    parts = {
        "web": after["web"] - before["web"],
        "workers": after["workers"] - before["workers"],
        "postgresql": pg,
        "redis_shared": after["redis"] - before["redis"],
    }
    ours = sum(parts.values()) + after["self"] - before["self"]
    wall_ms = (after["wall"] - before["wall"]) * 1000
    out = {name: round(ms / jobs, 1) for name, ms in parts.items()}
    out["total_without_redis"] = round((parts["web"] + parts["workers"] + parts["postgresql"]) / jobs, 1)
    out["client_and_polling"] = round((after["self"] - before["self"]) / jobs, 1)
    out["foreign_cores"] = round(max(after["machine"] - before["machine"] - ours, 0) / wall_ms, 2)
    return out


def run_one(
    http: httpx.Client, *, url: str, token: str, asset_class: str, seed: int, settled: set[str], timeout: float
) -> tuple[int, float, float]:
    """POST one job and wait until it rests; (job pk, wall time before the POST, POST RTT ms)."""
    t_wall, t0 = time.time(), time.perf_counter()
    response = http.post(
        url,
        json={"prompt": PROMPT, "asset_class": asset_class, "seed": seed},
        headers={"Authorization": f"Bearer {token}"},
    )
    rtt = (time.perf_counter() - t0) * 1000
    if response.status_code != 202:
        raise CommandError(f"POST answered {response.status_code}: {response.text[:300]}")
    job = RenderJob.objects.only("pk").get(public_id=response.json()["id"])
    deadline = time.monotonic() + timeout
    while RenderJob.objects.filter(pk=job.pk).values_list("status", flat=True).get() not in settled:
        if time.monotonic() > deadline:
            raise CommandError(f"job {job.pk} did not come to rest in {timeout} s")
        time.sleep(0.003)
    return job.pk, t_wall, rtt


def stages(job_ids: list[int], starts: dict[int, float], rtts: dict[int, float], *, kind: str) -> dict[str, Any]:
    jobs = {j.pk: j for j in RenderJob.objects.filter(pk__in=job_ids).select_related("tier")}
    for j in jobs.values():
        j.final_with_preview_run = j.auto_final and j.tier.final_with_preview  # type: ignore[attr-defined]
    attempts: dict[int, list[RenderAttempt]] = {}
    for a in RenderAttempt.objects.filter(job_id__in=job_ids).order_by("number"):
        attempts.setdefault(a.job_id, []).append(a)
    rows: dict[str, list[float]] = {
        k: []
        for k in (
            "e2e",
            "orchestration",
            "orchestration_per_engine_call",
            "engine_total",
            "api_post_rtt",
            "post_to_job_row",
        )
    }
    rows.update({"job_row_to_first_claim": [], "claim_to_attempt_done_minus_engine": [], "last_attempt_to_rest": []})
    calls: list[int] = []
    for pk in job_ids:
        job, tries = jobs[pk], attempts.get(pk, [])
        done = job.finished_at if kind == "production" else job.preview_ready_at
        if done is None or not tries or any(a.started_at is None or a.finished_at is None for a in tries):
            continue
        e2e = (done.timestamp() - starts[pk]) * 1000
        # The engine time on the job's critical path: attempts of one stage run one after the
        # other, a final started beside the preview runs at the same time as it.
        by_stage: dict[str, float] = {}
        for a in tries:
            by_stage[a.stage] = by_stage.get(a.stage, 0.0) + float(a.timings_ms.get("engine", 0))
        engine = max(by_stage.values()) if job.final_with_preview_run else sum(by_stage.values())
        rows["e2e"].append(e2e)
        rows["engine_total"].append(engine)
        rows["orchestration"].append(e2e - engine)
        rows["orchestration_per_engine_call"].append((e2e - engine) / len(tries))
        rows["api_post_rtt"].append(rtts[pk])
        rows["post_to_job_row"].append((job.created_at.timestamp() - starts[pk]) * 1000)
        rows["job_row_to_first_claim"].append((tries[0].started_at - job.created_at).total_seconds() * 1000)
        for a in tries:
            span = (a.finished_at - a.started_at).total_seconds() * 1000  # type: ignore[operator]
            rows["claim_to_attempt_done_minus_engine"].append(span - float(a.timings_ms.get("engine", 0)))
        last = max(a.finished_at for a in tries if a.finished_at)
        rows["last_attempt_to_rest"].append((done - last).total_seconds() * 1000)
        calls.append(len(tries))
    out: dict[str, Any] = {name: summary(values) for name, values in rows.items()}
    out["engine_calls_per_job"] = statistics.mean(calls) if calls else 0
    return out


class Command(BaseCommand):
    help = "Orchestration latency, statements and CPU per job on the null engine (PostgreSQL + Redis, real workers)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--jobs", type=int, default=200)
        parser.add_argument("--warmup", type=int, default=10)
        parser.add_argument("--count-jobs", type=int, default=5)
        parser.add_argument("--engine", choices=["null", "builtin"], default="null")
        parser.add_argument("--tiers", default="production,preview")
        parser.add_argument("--port", type=int, default=8731)
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument("--timeout", type=float, default=30)
        parser.add_argument("--skip-timed", action="store_true", help="only count statements")
        parser.add_argument("--show-sql", action="store_true", help="print the last counted job's statements")

    def handle(self, *args: object, **opts: Any) -> None:
        if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis"):
            raise CommandError("Set DATABASE_URL to PostgreSQL and CELERY_BROKER_URL to Redis.")
        classes = bench_fixtures(engine_kind=opts["engine"])
        token = bench_token()
        try:
            self.run_bench(classes=classes, token=token, opts=opts)
        finally:
            bench_fixtures_retire()

    def run_bench(self, *, classes: dict[str, str], token: str, opts: dict[str, Any]) -> None:
        kinds = [k for k in opts["tiers"].split(",") if k]
        result: dict[str, Any] = {"engine": opts["engine"], "jobs": opts["jobs"], "statements": {}, "timed": {}}
        for kind in kinds:
            counted = count_statements(token=token, asset_class=classes[kind], jobs=opts["count_jobs"])
            if not opts["show_sql"]:
                counted.pop("last_job_sql")
            result["statements"][kind] = counted
        if not opts["skip_timed"]:
            url = f"http://127.0.0.1:{opts['port']}/api/v1/renders"
            procs = Processes(port=opts["port"], web_workers=opts["web_workers"], concurrency=opts["concurrency"])
            try:
                procs.wait_ready(url=f"http://127.0.0.1:{opts['port']}/api/openapi.json")
                for kind in kinds:
                    result["timed"][kind] = self.timed(
                        procs, url=url, token=token, kind=kind, asset_class=classes[kind], **opts
                    )
            finally:
                procs.stop()
        self.stdout.write(json.dumps(result, indent=2, default=str))

    def timed(
        self, procs: Processes, *, url: str, token: str, kind: str, asset_class: str, **opts: Any
    ) -> dict[str, Any]:
        settled = {JobStatus.DELIVERED} if kind == "production" else {JobStatus.PREVIEW_READY}
        settled |= {JobStatus.FAILED, JobStatus.REFUSED, JobStatus.NEEDS_REVIEW, JobStatus.DEFERRED}
        with httpx.Client(timeout=opts["timeout"]) as http:
            for i in range(opts["warmup"]):
                run_one(
                    http,
                    url=url,
                    token=token,
                    asset_class=asset_class,
                    seed=i,
                    settled=settled,
                    timeout=opts["timeout"],
                )
            load_before = procstat.load_average()
            before = cpu_snapshot(procs)
            ids, starts, rtts = [], {}, {}
            for i in range(opts["jobs"]):
                pk, t_wall, rtt = run_one(
                    http,
                    url=url,
                    token=token,
                    asset_class=asset_class,
                    seed=10_000 + i,
                    settled=settled,
                    timeout=opts["timeout"],
                )
                ids.append(pk)
                starts[pk], rtts[pk] = t_wall, rtt
            after = cpu_snapshot(procs)
            load_after = procstat.load_average()
        statuses: dict[str, int] = {}
        for status in RenderJob.objects.filter(pk__in=ids).values_list("status", flat=True):
            statuses[status] = statuses.get(status, 0) + 1
        return {
            "statuses": statuses,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "cpu_ms_per_job": cpu_per_job(before, after, len(ids)),
            "latency_ms": stages(ids, starts, rtts, kind=kind),
        }
