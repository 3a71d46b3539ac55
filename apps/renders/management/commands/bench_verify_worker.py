"""Verification throughput through the real verify worker (issue 13, point 5).

    python manage.py bench_verify_worker --images /work/shared/realset [--repeat 2] [--json FILE]

Needs the database migrated and seeded (`seed_demo`) and a broker the worker can reach
(Redis in production). What is measured: `apps.renders.benchworker`; compare with
`bench_verify` (the gate alone, and the ceiling).
"""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.renders.benchworker import bench_verify_worker
from apps.verification.evaluation import ManifestError, manifest_samples


class Command(BaseCommand):
    help = "Images per second and CPU per image through the Procfile's verify worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--images", required=True, help="folder holding manifest.jsonl, or the manifest")
        parser.add_argument("--repeat", type=int, default=1)
        parser.add_argument("--json", dest="json_path", default=None)

    def handle(self, *args: object, images: str, repeat: int, json_path: str | None, **options: object) -> None:
        path = Path(images)
        try:
            samples = manifest_samples(path / "manifest.jsonl" if path.is_dir() else path)
        except (ManifestError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        log_path = Path(settings.VAR_DIR) / "bench_verify_worker.log"
        try:
            report = bench_verify_worker(samples=samples, repeat=max(1, repeat), log_path=log_path)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{report.images} images through {report.processes} worker processes in {report.wall_s} s: "
            f"{report.images_per_s:.2f} images/s, {report.worker_cpu_s_per_image:.3f} CPU-s / image in the pool "
            f"(load before {report.load_before}, after {report.load_after}); worker log {log_path}"
        )
        if json_path:
            Path(json_path).write_text(json.dumps(report.as_dict(), indent=2))
