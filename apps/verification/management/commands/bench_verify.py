"""Verification throughput against its CPU ceiling (issue 13, point 5).

    python manage.py bench_verify --images /work/shared/realset --processes 2 [--repeat 2] [--json FILE]

`--images` is a folder with a `manifest.jsonl` (as `verifier_eval --manifest` reads it) or the
manifest itself. `--processes` defaults to the verify worker's concurrency (`VERIFY_CONCURRENCY`,
else the number of cores, as the Procfile starts it). What is measured: `apps.verification.bench`.
"""

import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.verification.bench import bench_verify
from apps.verification.evaluation import ManifestError, manifest_samples


def default_processes() -> int:
    """The verify worker's concurrency as the Procfile starts it."""
    return int(os.environ.get("VERIFY_CONCURRENCY") or len(os.sched_getaffinity(0)))


class Command(BaseCommand):
    help = "Seconds per image through the gate alone, and throughput with the verify worker's processes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--images", required=True, help="folder holding manifest.jsonl, or the manifest")
        parser.add_argument("--processes", type=int, default=None)
        parser.add_argument("--repeat", type=int, default=1, help="passes over the images in each measurement")
        parser.add_argument("--json", dest="json_path", default=None, help="write the report here")

    def handle(self, *args: object, images: str, processes: int | None, repeat: int, **options: object) -> None:
        path = Path(images)
        manifest = path / "manifest.jsonl" if path.is_dir() else path
        try:
            samples = manifest_samples(manifest)
        except (ManifestError, OSError) as exc:
            raise CommandError(f"{manifest}: {exc}") from exc
        workers = processes or default_processes()
        if workers < 1 or repeat < 1:
            raise CommandError("--processes and --repeat must be at least 1.")
        report = bench_verify(samples=samples, processes=workers, repeat=repeat)
        out = self.stdout.write
        out(f"{report.images} images × {report.repeat} · {report.cores} cores · load before {report.load_before}")
        out(
            f"single process: {report.single_cpu_s_per_image:.3f} CPU-s / image "
            f"({report.single_wall_s_per_image:.3f} s wall) → ceiling {report.ceiling_images_per_s:.2f} images/s"
        )
        out(
            f"{report.processes} processes: {report.pool_images_per_s:.2f} images/s "
            f"({report.pool_cpu_s_per_image:.3f} CPU-s / image, CPU share {report.pool_cpu_share:.0%} of the cores)"
        )
        out(
            f"ratio to the ceiling {report.ratio:.2f} · CPU per image alone ÷ in the pool {report.cpu_ratio:.2f} · "
            f"verdicts equal: {report.verdicts_equal} · load after {report.load_after}"
        )
        json_path = options.get("json_path")
        if json_path:
            Path(str(json_path)).write_text(json.dumps(report.as_dict(), indent=2))
            out(f"wrote {json_path}")
