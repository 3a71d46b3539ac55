"""Verification throughput through the real verify worker (`python manage.py bench_verify_worker`).

Starts the Procfile's `verify` process (Celery prefork, `VERIFY_CONCURRENCY` or one process per
core, niced) on the configured database and broker, waits until every pool process has warmed
its OCR, then creates one attempt per image × repeat in VERIFYING (each in its own job, which is
already DELIVERED so that the verdict moves nothing on), sends `renders.verify_attempt` for all
of them, and waits until every attempt has its VerificationResult. Throughput is images ÷ wall
seconds from the first send to the last result; CPU per image is the pool processes' CPU time
(/proc, user + system) over the same span, task handling and database writes included. The
rows it made are deleted at the end. Needs `seed_demo` (a tier, an engine) and migrations.
"""

import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from apps.core.images import displayed_size
from apps.engines.models import Engine
from apps.policy.models import Tier
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob, Stage
from apps.renders.pipeline import enqueue
from apps.verification.corpus import Sample
from apps.verification.models import VerificationResult

WARM_MARK = "OCR warmed up"


@dataclass(frozen=True)
class WorkerBench:
    """Images through the real worker: count, wall seconds, images/s, CPU seconds per image."""

    images: int
    processes: int
    wall_s: float
    images_per_s: float
    worker_cpu_s_per_image: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _cpu_s(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _pool_pids(root: int) -> list[int]:
    """The Celery pool processes under the Procfile line's process tree (nice → celery → pool)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        kids = _children(pid)
        todo.extend(kids)
        if not kids and pid != root:
            found.append(pid)
    return found


def _make_attempts(samples: list[Sample], repeat: int) -> list[RenderAttempt]:
    user, _ = get_user_model().objects.get_or_create(username="bench-verify-worker")
    tier, engine = Tier.objects.order_by("pk").first(), Engine.objects.order_by("pk").first()
    if tier is None or engine is None:
        raise RuntimeError("No tier or engine: run `manage.py seed_demo` first.")
    attempts = []
    for round_no in range(repeat):
        for index, sample in enumerate(samples):
            width, height = displayed_size(sample.image)  # the gate checks the image's shape against it
            job = RenderJob.objects.create(
                texts=sample.expected,
                prompt="bench_verify_worker",
                regions=sample.regions,
                seed=index,
                width=width,
                height=height,
                tier=tier,
                status=JobStatus.DELIVERED,
                submitted_by=user,
            )
            attempt = RenderAttempt(
                job=job,
                number=1,
                stage=Stage.FINAL,
                engine=engine,
                prompt=job.prompt,
                seed=index,
                status=AttemptStatus.VERIFYING,
                requested_size=f"{width}x{height}",
            )
            attempt.image.save(f"bench-{round_no}-{index}.png", ContentFile(sample.image), save=False)
            attempt.save()
            attempts.append(attempt)
    return attempts


def bench_verify_worker(*, samples: list[Sample], repeat: int = 1, log_path: Path) -> WorkerBench:
    """Run the measurement described in the module docstring. Raises RuntimeError when the
    worker does not warm up within 5 minutes or the results do not all arrive within 30."""
    root = Path(settings.BASE_DIR)
    with log_path.open("w") as log:
        # The Procfile names `celery` bare: this interpreter's scripts come first on PATH.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        worker = subprocess.Popen(
            ["bash", str(root / "deploy/systemd/procfile-run.sh"), "verify"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PATH": path},
        )
    attempts: list[RenderAttempt] = []
    try:
        processes = int(os.environ.get("VERIFY_CONCURRENCY") or len(os.sched_getaffinity(0)))
        deadline = time.monotonic() + 300
        while log_path.read_text().count(WARM_MARK) < processes:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"The verify worker did not warm up; see {log_path}.")
            time.sleep(0.5)
        attempts = _make_attempts(samples, repeat)
        pids = _pool_pids(worker.pid)
        load_before, cpu_before, started = os.getloadavg(), _cpu_s(pids), time.perf_counter()
        for attempt in attempts:
            enqueue.attempt_verify(attempt)
        ids = [a.pk for a in attempts]
        deadline = time.monotonic() + 1800
        while RenderAttempt.objects.filter(pk__in=ids, verification__isnull=True).exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"Not every attempt was verified in 30 minutes; see {log_path}.")
            time.sleep(0.1)
        wall, cpu = time.perf_counter() - started, _cpu_s(pids) - cpu_before
        return WorkerBench(
            images=len(attempts),
            processes=processes,
            wall_s=round(wall, 2),
            images_per_s=round(len(attempts) / wall, 3),
            worker_cpu_s_per_image=round(cpu / len(attempts), 4),
            load_before=load_before,
            load_after=os.getloadavg(),
        )
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        for attempt in attempts:
            attempt.image.delete(save=False)
        result_ids = [a.verification_id for a in RenderAttempt.objects.filter(pk__in=[a.pk for a in attempts])]
        RenderJob.objects.filter(pk__in=[a.job_id for a in attempts]).delete()
        VerificationResult.objects.filter(pk__in=[r for r in result_ids if r]).delete()
