"""How close verification runs to its CPU ceiling (`python manage.py bench_verify`).

Two measurements over the same labelled images (a `manifest.jsonl` as `verifier_eval` reads):

1. **single**: one process, models warm, each image through the gate once: CPU seconds and wall
   seconds per image. The ceiling is ``cores ÷ CPU seconds per image``: what the machine's
   cores could verify if they did nothing else.
2. **pool**: `processes` forked worker processes, each started by `ocr.ocr_warm` exactly as a
   prefork verification worker's child is (`apps.renders.tasks.warm_ocr`), each taking one
   image at a time (prefetch 1) and running what the task runs on it: the gate on the image's
   bytes. Database writes (one INSERT and two UPDATEs per attempt) are left out. Throughput is
   images ÷ wall seconds from the moment every process is warm to the last verdict.

``ratio = pool throughput ÷ ceiling`` (issue 13 asks ≥ 0.8). On a machine shared with other
work the pool gets less than every core, so the report also gives the pool's CPU share
(CPU seconds its processes used ÷ (wall × cores)) and the load average before and after;
``cpu_ratio`` (CPU seconds per image alone ÷ in the pool) says whether the pool wastes CPU
(oversubscription, contention), which a busy neighbour does not distort.
"""

import multiprocessing
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from apps.verification.corpus import Sample
from apps.verification.gate import verify_image
from apps.verification.ocr import ocr_warm

# The images, set before the pool forks so that every worker process inherits them.
_SAMPLES: list[Sample] = []


@dataclass(frozen=True)
class ImageRun:
    """One image through the gate: verdict, CPU and wall seconds (the gate's process)."""

    index: int
    verdict: str
    cpu_s: float
    wall_s: float


@dataclass
class BenchReport:
    """Both measurements (seconds, images per second) and their ratios; see the module docstring."""

    images: int
    repeat: int
    processes: int
    cores: int
    single_cpu_s_per_image: float
    single_wall_s_per_image: float
    ceiling_images_per_s: float
    pool_images_per_s: float
    pool_wall_s: float
    pool_cpu_s_per_image: float
    pool_cpu_share: float
    ratio: float
    cpu_ratio: float
    verdicts_equal: bool
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    verdicts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run(index: int) -> ImageRun:
    sample = _SAMPLES[index]
    cpu, wall = time.process_time(), time.perf_counter()
    report = verify_image(image=sample.image, expected=sample.expected, regions=sample.regions)
    return ImageRun(index, report.verdict, time.process_time() - cpu, time.perf_counter() - wall)


def _start_worker(ready: Any) -> None:
    ocr_warm()
    ready.wait()


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def bench_pool(*, processes: int, repeat: int) -> tuple[list[ImageRun], float]:
    """Every image `repeat` times through `processes` forked, warmed workers, one image per
    request. Returns the runs and the wall seconds from all-warm to the last verdict."""
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(processes + 1)
    jobs = [i for _ in range(repeat) for i in range(len(_SAMPLES))]
    with context.Pool(processes, initializer=_start_worker, initargs=(ready,)) as pool:
        ready.wait(timeout=300)
        started = time.perf_counter()
        runs = list(pool.imap_unordered(_run, jobs, chunksize=1))
        wall = time.perf_counter() - started
    return runs, wall


def bench_single(*, repeat: int) -> list[ImageRun]:
    """Every image `repeat` times through the gate in this process, models warm."""
    ocr_warm()
    return [_run(i) for _ in range(repeat) for i in range(len(_SAMPLES))]


def bench_verify(*, samples: list[Sample], processes: int, repeat: int = 1) -> BenchReport:
    """Measure the pool first (forked from a process with no model loaded, as Celery's prefork
    parent has none), then one process alone. Raises ValueError with no samples."""
    if not samples:
        raise ValueError("No images to verify.")
    _SAMPLES[:] = samples
    load_before = os.getloadavg()
    pool_runs, pool_wall = bench_pool(processes=processes, repeat=repeat)
    single_runs = bench_single(repeat=repeat)
    load_after = os.getloadavg()
    count = len(single_runs)
    cores = _cores()
    single_cpu = sum(r.cpu_s for r in single_runs) / count
    single_wall = sum(r.wall_s for r in single_runs) / count
    pool_cpu = sum(r.cpu_s for r in pool_runs) / count
    ceiling = cores / single_cpu
    throughput = count / pool_wall
    by_index = {r.index: r.verdict for r in single_runs}
    return BenchReport(
        images=len(samples),
        repeat=repeat,
        processes=processes,
        cores=cores,
        single_cpu_s_per_image=round(single_cpu, 4),
        single_wall_s_per_image=round(single_wall, 4),
        ceiling_images_per_s=round(ceiling, 3),
        pool_images_per_s=round(throughput, 3),
        pool_wall_s=round(pool_wall, 2),
        pool_cpu_s_per_image=round(pool_cpu, 4),
        pool_cpu_share=round(pool_cpu * count / (pool_wall * cores), 3),
        ratio=round(throughput / ceiling, 3),
        cpu_ratio=round(single_cpu / pool_cpu, 3),
        verdicts_equal=all(by_index[r.index] == r.verdict for r in pool_runs),
        load_before=load_before,
        load_after=load_after,
        verdicts=[by_index[i] for i in range(len(samples))],
    )
