"""Benchmark: one monolithic policy vs the tiered two-stage policy, on real workers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/renderhub_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/4 \\
    .venv/bin/python manage.py bench_tiers --jobs 100

`--rate N` paces arrivals (job i at i/N s, open loop) so runs compare across machine load;
without it the burst goes back to back, as fast as `job_submit` runs (which depends on load).

The product's scenario on the built-in engines (offline simulations with simulated latency:
Turbo ≈ 300 ms, Ultra ≈ 1.5 s with a 5 % tail ×2.2): a burst of mixed jobs — mostly previews
and avatars, some editorial, a few paid — submitted through `job_submit` (admission included)
and rendered by real Celery worker processes this command starts, with the same number of
engine threads in both runs:

(a) monolithic: every job to the high-fidelity engine (Built-in Ultra) on one queue
    (render.final), one stage — its first image is also its final;
(b) tiered: preview and avatar jobs on the Preview tier (Turbo, render.preview; the preview is
    the deliverable), editorial and paid on Production (Turbo preview on render.preview, then
    the Ultra final on render.final), the threads split between the two queues;
(c) tiered-parallel: as (b), with Production's final started beside its preview
    (`Tier.final_with_preview`) instead of after it.

Reported per policy and asset class: p50/p95/p99 of time to preview (first image) and to
final, and the share of jobs whose deliverable arrived within their tier's latency budget
(the class's tier in the tiered policy: Preview 800 ms, Production 2200 ms); per policy: peak
queue depth (QUEUED attempts, sampled every 100 ms), cost per delivered image, wall time.
OCR verification is off in both runs so the 2 shared cores measure queueing, not Tesseract.
Percentiles of a class with few jobs are close to its maximum. It WIPES the jobs, budgets
and cost history of the database it runs on: use a scratch database.
"""

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Sum

from apps.catalog.models import Template
from apps.engines.models import Engine
from apps.policy.models import AssetClass, BudgetLedger, CostOutcome, Reservation, Tier
from apps.renders.demo import demo_seed
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob
from apps.renders.pipeline.submit import job_submit
from apps.renders.pipeline.sweeper import jobs_release_deferred

# tiered-parallel: as tiered, with Production's final started beside its preview.
POLICIES = ("monolithic", "tiered", "tiered-parallel")
MIX = [("preview", 0.45), ("avatar", 0.25), ("editorial", 0.22), ("paid", 0.08)]
TEMPLATE_FOR = {
    "preview": "product-thumbnail",
    "avatar": "product-thumbnail",
    "editorial": "editorial-cover",
    "paid": "editorial-cover",
}
IN_FLIGHT = [JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.PREVIEWING, JobStatus.RENDERING]


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (no interpolation: with few values it is an observed value)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class RunResult:
    policy: str
    jobs: int = 0
    rate: float = 0.0
    wall_s: float = 0.0
    peak_depth: dict[str, int] = field(default_factory=dict)
    cost_usd: Decimal = Decimal("0")
    delivered: int = 0
    admissions: dict[str, int] = field(default_factory=dict)
    classes: dict[str, dict[str, object]] = field(default_factory=dict)
    load_before: float = 0.0
    load_after: float = 0.0

    @property
    def cost_per_image(self) -> Decimal | None:
        return (self.cost_usd / self.delivered).quantize(Decimal("0.0001")) if self.delivered else None


class Command(BaseCommand):
    help = "Benchmark the monolithic vs the tiered policy on real workers (PostgreSQL + Redis). Wipes jobs."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--jobs", type=int, default=100, help="Jobs in the burst (default 100).")
        parser.add_argument("--threads", type=int, default=8, help="Engine threads per policy (default 8).")
        parser.add_argument("--scale", type=float, default=1.0, help="Simulated-latency scale (default 1.0).")
        parser.add_argument("--seed", type=int, default=7, help="Seed of the job mix.")
        parser.add_argument(
            "--rate",
            type=float,
            default=0.0,
            help="Arrivals per second (paced, open loop); 0 = back to back as fast as submission goes.",
        )
        parser.add_argument("--timeout", type=float, default=240.0, help="Seconds to wait for a run to finish.")
        parser.add_argument("--only", choices=list(POLICIES), default=None)
        parser.add_argument("--json", action="store_true", help="Print JSON instead of tables.")

    def handle(self, *args: object, **opts: object) -> None:
        if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis"):
            raise CommandError("Run it on PostgreSQL + Redis: set DATABASE_URL and CELERY_BROKER_URL.")
        call_command("migrate", verbosity=0)
        demo_seed(password="bench-only")
        user = get_user_model().objects.get(username="editor")
        rng = random.Random(int(opts["seed"]))  # type: ignore[arg-type]
        n = int(opts["jobs"])  # type: ignore[arg-type]
        classes = rng.choices([c for c, _ in MIX], weights=[w for _, w in MIX], k=n)
        results = []
        for policy in POLICIES:
            if opts["only"] and opts["only"] != policy:
                continue
            results.append(
                self.run_policy(
                    policy,
                    classes=classes,
                    user=user,
                    threads=int(opts["threads"]),  # type: ignore[arg-type]
                    rate=float(opts["rate"]),  # type: ignore[arg-type]
                    scale=float(opts["scale"]),  # type: ignore[arg-type]
                    timeout=float(opts["timeout"]),  # type: ignore[arg-type]
                )
            )
        if opts["json"]:
            self.stdout.write(json.dumps([self.as_json(r) for r in results], indent=2, default=str))
        else:
            for result in results:
                self.print_table(result)

    # --- setup -------------------------------------------------------------------------

    def configure(self, policy: str) -> Tier | None:
        """Reset the scratch data and set up the policy; returns the tier every job goes to
        (monolithic) or None (route by asset class)."""
        RenderJob.objects.all().delete()
        Reservation.objects.all().delete()
        BudgetLedger.objects.all().delete()
        CostOutcome.objects.all().delete()
        Tier.objects.update(verify_ocr=False, daily_budget_usd=Decimal("10000"), degrade_to=None)
        if policy != "monolithic":
            Tier.objects.filter(slug="production").update(final_with_preview=policy == "tiered-parallel")
            return None
        ultra = Engine.objects.get(slug="builtin-ultra")
        mono, _ = Tier.objects.update_or_create(
            slug="monolithic",
            defaults={
                "name": "Monolithic",
                "preview_engine": ultra,
                "final_engine": ultra,
                "fallback_engine": None,
                "max_latency_ms": 2200,
                "daily_budget_usd": Decimal("10000"),
                "verify_ocr": False,
                "auto_final": False,
                "hedge_previews": False,
                "preview_queue": settings.RENDERHUB_QUEUES["final"],
                "final_queue": settings.RENDERHUB_QUEUES["final"],
            },
        )
        return mono

    def start_workers(self, policy: str, threads: int, scale: float, log_dir: Path) -> list[subprocess.Popen]:
        q = settings.RENDERHUB_QUEUES
        env = {**os.environ, "RENDERHUB_BUILTIN_LATENCY_SCALE": str(scale)}
        if policy == "monolithic":
            plan = [("mono", [q["final"], "default"], threads)]
        else:
            half = max(1, threads // 2)
            plan = [("preview", [q["preview"], "default"], half), ("final", [q["final"]], max(1, threads - half))]
        procs = []
        for name, queues, conc in plan:
            log = log_dir / f"{policy}-{name}.log"
            proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "renderhub", "worker", "-n", f"bench-{name}@%h",
                 "-Q", ",".join(queues), "--pool", "threads", "-c", str(conc), "-l", "info",
                 "--without-mingle", "--without-gossip"],
                cwd=settings.BASE_DIR, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
            )  # fmt: skip
            procs.append(proc)
            deadline = time.monotonic() + 60
            while "ready." not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise CommandError(f"worker {name} did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.2)
        return procs

    # --- one run -----------------------------------------------------------------------

    def run_policy(
        self,
        policy: str,
        *,
        classes: list[str],
        user: object,
        threads: int,
        scale: float,
        timeout: float,
        rate: float = 0.0,
    ) -> RunResult:
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
        tier = self.configure(policy)
        templates = {t.slug: t for t in Template.objects.all()}
        result = RunResult(policy=policy, jobs=len(classes), rate=rate, load_before=os.getloadavg()[0])
        log_dir = Path(tempfile.mkdtemp(prefix=f"bench-{policy}-"))
        procs = self.start_workers(policy, threads, scale, log_dir)
        stop = threading.Event()
        peaks: dict[str, int] = {}

        def sample() -> None:
            try:
                while not stop.is_set():
                    for stage, count in _queued_by_queue(policy):
                        peaks[stage] = max(peaks.get(stage, 0), count)
                    time.sleep(0.1)
            finally:
                connection.close()

        sampler = threading.Thread(target=sample, daemon=True)
        started = time.monotonic()
        sampler.start()
        try:
            for i, klass in enumerate(classes):
                if rate > 0:  # open loop: job i arrives at i / rate whatever the system does
                    time.sleep(max(0.0, started + i / rate - time.monotonic()))
                job_submit(
                    submitted_by=user,  # type: ignore[arg-type]
                    template=templates[TEMPLATE_FOR[klass]],
                    texts={"title": f"Story {i}"} if TEMPLATE_FOR[klass] == "editorial-cover" else {"overlay": "SALE"},
                    asset_class=klass,
                    tier=tier,
                    with_preview=tier is None,
                    seed=1000 + i,
                )
            deadline = time.monotonic() + timeout
            while RenderJob.objects.filter(status__in=IN_FLIGHT).exists():
                if time.monotonic() > deadline:
                    raise CommandError(f"{policy}: jobs still in flight after {timeout:.0f} s (logs in {log_dir}).")
                # Beat's job, at a finer grain: start jobs admission deferred until the queue drains.
                jobs_release_deferred()
                time.sleep(0.2)
            result.wall_s = round(time.monotonic() - started, 1)
        finally:
            stop.set()
            sampler.join()
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        result.load_after = os.getloadavg()[0]
        result.peak_depth = peaks
        self.collect(result, mono=tier is not None)
        return result

    def collect(self, result: RunResult, *, mono: bool) -> None:
        budgets = {c.slug: c.tier.max_latency_ms for c in AssetClass.objects.select_related("tier")}
        result.cost_usd = RenderAttempt.objects.aggregate(s=Sum("cost_usd"))["s"] or Decimal("0")
        for job in RenderJob.objects.all():
            result.admissions[job.admission] = result.admissions.get(job.admission, 0) + 1
        per: dict[str, dict[str, list[float] | int]] = {}
        for job in RenderJob.objects.all():
            row = per.setdefault(job.asset_class, {"preview": [], "final": [], "n": 0, "ok": 0, "delivered": 0})
            row["n"] += 1  # type: ignore[operator]
            preview_at = job.finished_at if mono else job.preview_ready_at
            if preview_at:
                row["preview"].append((preview_at - job.created_at).total_seconds() * 1000)  # type: ignore[union-attr]
            if job.status == JobStatus.DELIVERED and job.finished_at:
                row["final"].append((job.finished_at - job.created_at).total_seconds() * 1000)  # type: ignore[union-attr]
            # The deliverable: the preview for preview-only tiers, the final otherwise.
            done_at = job.finished_at if job.status == JobStatus.DELIVERED else None
            if job.status == JobStatus.PREVIEW_READY:
                done_at = job.preview_ready_at
            if done_at:
                row["delivered"] += 1  # type: ignore[operator]
                if (done_at - job.created_at).total_seconds() * 1000 <= budgets.get(job.asset_class, 0):
                    row["ok"] += 1  # type: ignore[operator]
        result.delivered = sum(int(r["delivered"]) for r in per.values())  # type: ignore[call-overload]
        for klass, _ in MIX:
            row = per.get(klass)
            if not row:
                continue
            result.classes[klass] = {
                "n": row["n"],
                "budget_ms": budgets.get(klass),
                **{f"preview_p{q}": percentile(row["preview"], q) for q in (50, 95, 99)},  # type: ignore[arg-type]
                **{f"final_p{q}": percentile(row["final"], q) for q in (50, 95, 99)},  # type: ignore[arg-type]
                "within_budget": round(int(row["ok"]) / int(row["n"]), 3),  # type: ignore[call-overload]
            }

    # --- output ------------------------------------------------------------------------

    def as_json(self, r: RunResult) -> dict[str, object]:
        return {
            "policy": r.policy,
            "jobs": r.jobs,
            "rate_per_s": r.rate,
            "wall_s": r.wall_s,
            "peak_queue_depth": r.peak_depth,
            "cost_usd": str(r.cost_usd),
            "delivered": r.delivered,
            "cost_per_delivered_image_usd": str(r.cost_per_image),
            "admissions": r.admissions,
            "load_avg_1m": [r.load_before, r.load_after],
            "classes": r.classes,
        }

    def print_table(self, r: RunResult) -> None:
        def ms(v: object) -> str:
            return "–" if v is None else f"{float(v):.0f}"  # type: ignore[arg-type]

        self.stdout.write(
            f"\n## {r.policy}: {r.jobs} jobs ({f'{r.rate:g}/s' if r.rate else 'back to back'}), wall {r.wall_s} s, "
            f"peak queue depth {r.peak_depth}, "
            f"cost/delivered image ${r.cost_per_image} ({r.delivered} delivered, ${r.cost_usd}), "
            f"admissions {r.admissions}, load avg {r.load_before:.2f}→{r.load_after:.2f}\n"
        )
        self.stdout.write(
            "| class | n | preview p50 / p95 / p99 ms | final p50 / p95 / p99 ms | budget ms | within budget |"
        )
        self.stdout.write("| --- | --- | --- | --- | --- | --- |")
        for klass, c in r.classes.items():
            self.stdout.write(
                f"| {klass} | {c['n']} | {ms(c['preview_p50'])} / {ms(c['preview_p95'])} / {ms(c['preview_p99'])} "
                f"| {ms(c['final_p50'])} / {ms(c['final_p95'])} / {ms(c['final_p99'])} | {c['budget_ms']} "
                f"| {float(c['within_budget']):.0%} |"  # type: ignore[arg-type]
            )


def _queued_by_queue(policy: str) -> list[tuple[str, int]]:
    queued = RenderAttempt.objects.filter(status=AttemptStatus.QUEUED)
    if policy == "monolithic":
        return [(settings.RENDERHUB_QUEUES["final"], queued.count())]
    return [
        (settings.RENDERHUB_QUEUES["preview"], queued.filter(stage="preview").count()),
        (settings.RENDERHUB_QUEUES["final"], queued.filter(stage="final").count()),
    ]
