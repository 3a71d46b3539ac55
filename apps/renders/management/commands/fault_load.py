"""Submit jobs at a steady rate, then wait for every one to settle (the fault table's load).

    python manage.py fault_load --jobs 24 --rate 2 --settle 120

Prints JSON lines: {"event": "submitted", "n"} after each submission, then one
{"event": "report", "jobs", "settled", "stuck", "by_status", "submit_retries",
"stuck_reasons"}. Settled means at rest for good: delivered, failed, refused, rejected,
needing review, or resting at its preview; a deferred job is not settled until it has run. It rides
out a database restart itself: a submission or a poll that loses its connection is tried
again (counted in submit_retries), so what it reports is the pipeline's doing.
"""

import json
import time
from collections import Counter

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError, close_old_connections, connection

from apps.renders.models import SETTLED_STATUSES, JobStatus, RenderJob
from apps.renders.pipeline.submit import job_submit

PROMPT = 'a bakery window at dawn with the word "OPEN" painted on the glass'


def _settled(status: str, auto_final: bool) -> bool:
    """At rest for good: a deferred job has not run yet, so it does not count."""
    if status == JobStatus.DEFERRED:
        return False
    return status in SETTLED_STATUSES or (status == JobStatus.PREVIEW_READY and not auto_final)


class Command(BaseCommand):
    help = "Submit jobs at a steady rate and wait until every one settles (fault table load)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--jobs", type=int, default=24)
        parser.add_argument("--rate", type=float, default=2.0, help="submissions per second")
        parser.add_argument("--settle", type=float, default=120.0, help="seconds to wait for settling")
        parser.add_argument("--asset-class", default="editorial")
        parser.add_argument("--user", default="editor")

    def _emit(self, **event: object) -> None:
        self.stdout.write(json.dumps(event))
        self.stdout.flush()

    def _retrying(self, call, deadline: float):  # type: ignore[no-untyped-def]
        """`call()`, again after a lost connection until `deadline` (monotonic)."""
        while True:
            try:
                return call()
            except (OperationalError, InterfaceError):
                self.retries += 1
                if time.monotonic() > deadline:
                    raise
                try:
                    connection.close()
                except Exception:  # the connection is already gone; a new one opens on the next query
                    pass
                time.sleep(0.5)

    def handle(self, *args: object, jobs: int, rate: float, settle: float, asset_class: str, user: str, **_: object):  # type: ignore[no-untyped-def]
        self.retries = 0
        deadline = time.monotonic() + jobs / rate + settle
        editor = self._retrying(lambda: get_user_model().objects.get(username=user), deadline)
        ids: list[int] = []
        for n in range(1, jobs + 1):
            tick = time.monotonic()
            job = self._retrying(
                lambda n=n: job_submit(submitted_by=editor, prompt=PROMPT, seed=n, asset_class=asset_class),
                deadline,
            )
            ids.append(job.pk)
            self._emit(event="submitted", n=n)
            time.sleep(max(0.0, 1 / rate - (time.monotonic() - tick)))
        rows: list[tuple[str, bool, str]] = []
        while time.monotonic() < deadline:
            close_old_connections()
            rows = self._retrying(
                lambda: list(
                    RenderJob.objects.filter(pk__in=ids).values_list("status", "auto_final", "status_reason")
                ),
                deadline,
            )
            if all(_settled(status, auto_final) for status, auto_final, _ in rows):
                break
            time.sleep(0.5)
        by_status = Counter(status for status, _, _ in rows)
        settled = sum(1 for status, auto_final, _ in rows if _settled(status, auto_final))
        stuck_reasons = Counter(
            f"{status}: {reason[:120]}" for status, auto_final, reason in rows if not _settled(status, auto_final)
        )
        self._emit(
            event="report",
            jobs=len(ids),
            settled=settled,
            stuck=len(ids) - settled,
            by_status=dict(by_status),
            submit_retries=self.retries,
            stuck_reasons=dict(stuck_reasons.most_common(5)),
        )
