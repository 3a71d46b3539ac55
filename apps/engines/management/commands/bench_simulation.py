"""CPU per simulated image of the built-in engines (issue 13, point 6).

    python manage.py bench_simulation [--count 100] [--json FILE]

What is measured: `apps.engines.simbench`.
"""

import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser

from apps.engines.simbench import bench_simulation


class Command(BaseCommand):
    help = "CPU milliseconds per image of the built-in simulation (preview and final looks)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=100, help="images per look")
        parser.add_argument("--json", dest="json_path", default=None)

    def handle(self, *args: object, count: int, json_path: str | None, **options: object) -> None:
        load = os.getloadavg()
        report = bench_simulation(count=count)
        for look in report.cpu_ms_mean:
            self.stdout.write(
                f"{look}: {report.cpu_ms_mean[look]:.1f} CPU-ms / image mean, p50 {report.cpu_ms_p50[look]:.1f}, "
                f"p95 {report.cpu_ms_p95[look]:.1f} ({report.count} images)"
            )
        self.stdout.write(f"digest {report.digest} · load before {load} after {os.getloadavg()}")
        if json_path:
            Path(json_path).write_text(json.dumps(report.as_dict(), indent=2))
