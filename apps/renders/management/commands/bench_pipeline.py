"""Time from submission to preview and to final, on whatever services are configured.

Needs running workers (`make run`, or the worker commands in the README). Submits jobs
one after another (or N at a time) for a template and reads the server-side timestamps:
created → preview ready, created → finished. Prints a JSON summary.
"""

import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from apps.catalog.models import Template
from apps.core.stats import percentile_interpolated as percentile
from apps.renders.models import TERMINAL_STATUSES, JobStatus, RenderJob
from apps.renders.pipeline.submit import job_submit

WORDS = ["Harbour", "Lights", "Spring", "Market", "Opens", "Today", "Mama's", "Kitchen", "Night", "Train"]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(percentile(values, 0.5), 1),
        "p95": round(percentile(values, 0.95), 1),
        "max": round(max(values), 1) if values else float("nan"),
        "mean": round(statistics.fmean(values), 1) if values else float("nan"),
    }


class Command(BaseCommand):
    help = "Measure submit → preview and submit → final on the configured database, broker and workers."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--jobs", type=int, default=20)
        parser.add_argument("--concurrency", type=int, default=1)
        parser.add_argument("--template", default="editorial-cover")
        parser.add_argument("--user", default="editor")
        parser.add_argument("--timeout", type=float, default=120)

    def handle(
        self, *args: object, jobs: int, concurrency: int, template: str, user: str, timeout: float, **options: object
    ) -> None:
        tpl = Template.objects.filter(slug=template).first()
        submitter = get_user_model().objects.filter(username=user).first()
        if tpl is None or submitter is None:
            raise CommandError("Run `manage.py seed_demo` first (template or user missing).")
        slot = tpl.slots[0]["name"]

        def one(i: int) -> int:
            words = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(2))
            job = job_submit(submitted_by=submitter, template=tpl, texts={slot: words}, seed=1000 + i)
            settled = {*TERMINAL_STATUSES, JobStatus.NEEDS_REVIEW}
            if not job.auto_final:
                settled.add(JobStatus.PREVIEW_READY)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if RenderJob.objects.filter(pk=job.pk).values_list("status", flat=True).get() in settled:
                    break
                time.sleep(0.02)
            connection.close()
            return job.pk

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            ids = list(pool.map(one, range(jobs)))
        wall = time.monotonic() - started
        done = list(RenderJob.objects.filter(pk__in=ids))
        to_preview = [(j.preview_ready_at - j.created_at).total_seconds() * 1000 for j in done if j.preview_ready_at]
        to_final = [
            (j.finished_at - j.created_at).total_seconds() * 1000
            for j in done
            if j.finished_at and j.status in (JobStatus.DELIVERED,)
        ]
        statuses: dict[str, int] = {}
        for j in done:
            statuses[j.status] = statuses.get(j.status, 0) + 1
        result = {
            "database": connection.vendor,
            "broker": settings.CELERY_BROKER_URL.split("://")[0],
            "template": template,
            "jobs": jobs,
            "concurrency": concurrency,
            "wall_s": round(wall, 2),
            "statuses": statuses,
            "submit_to_preview_ms": summary(to_preview),
            "submit_to_final_ms": summary(to_final),
        }
        self.stdout.write(json.dumps(result, indent=2))
