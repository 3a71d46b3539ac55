"""Measure the web under load: status pollers on the job page while jobs are submitted.

    python manage.py load_pollers --url http://127.0.0.1:8000 --pollers 20 --rate 5 --seconds 60

Against a running deployment (web, workers, beat on this database): `--rate` submissions per
second through `POST /api/v1/renders` (open loop: a slow answer does not slow the offered
rate), and `--pollers` editors each polling one of the newest jobs' page every 400 ms with
`HX-Request` and the last ETag, as the page's htmx and the browser's cache do
(closed loop). An editor stays on their job's page until it answers 286 (the job rests and
htmx stops polling), then opens one of the newest jobs. Prints one JSON object: page and submit
latency percentiles (ms), error counts, and how admission decided on the submitted jobs.
`--preview-rate` adds preview-tier submissions (asset class `preview`, 800 ms budget) at
that rate beside the others, and reports their submit → preview percentiles and the share
within the tier's budget separately (a preview that never arrived counts as over it).
`scripts/load_pollers.py` starts a private deployment and runs this against it.
"""

import json
import os
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.management.base import BaseCommand

from apps.accounts.services import api_token_create
from apps.renders.models import RenderAttempt, RenderJob

POLL_INTERVAL_S = 0.4  # the job page's hx-trigger


def percentiles(values: list[float]) -> dict[str, float | int]:
    """{"n", "p50", "p95", "p99", "max"} in ms (nearest-rank)."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))], 1)

    return {"n": len(ordered), "p50": rank(50), "p95": rank(95), "p99": rank(99), "max": round(ordered[-1], 1)}


def _session_cookie(user) -> str:  # type: ignore[no-untyped-def]
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return str(session.session_key)


def _preview_figures(public_ids: list[str]) -> dict[str, object]:
    """Preview-tier jobs: admission, submit → preview percentiles, and the share within the
    tier's budget (jobs with no preview yet count as over it)."""
    jobs = RenderJob.objects.filter(public_id__in=public_ids).select_related("tier")
    budget_ms = jobs[0].tier.max_latency_ms if jobs else 0
    times = [
        (ready - created).total_seconds() * 1000
        for created, ready in jobs.filter(preview_ready_at__isnull=False).values_list("created_at", "preview_ready_at")
    ]
    within = sum(1 for t in times if t <= budget_ms)
    steps: dict[str, list[float]] = {}
    for timings in RenderAttempt.objects.filter(job__in=jobs, stage="preview").values_list("timings_ms", flat=True):
        for step, ms in (timings or {}).items():
            if isinstance(ms, int | float):
                steps.setdefault(step, []).append(float(ms))
    return {
        "preview_attempt_steps_ms": {step: percentiles(values) for step, values in sorted(steps.items())},
        "submitted": len(public_ids),
        "admission": dict(Counter(jobs.values_list("admission", flat=True))),
        "budget_ms": budget_ms,
        "submit_to_preview_ms": percentiles(times),
        "within_budget": round(within / len(public_ids), 3) if public_ids else None,
        "no_preview_yet": len(public_ids) - len(times),
    }


class Command(BaseCommand):
    help = "Page latency under N pollers and R submissions per second (JSON figures)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--pollers", type=int, default=20)
        parser.add_argument("--rate", type=float, default=5.0, help="submissions per second")
        parser.add_argument("--seconds", type=float, default=60.0)
        parser.add_argument("--user", default="editor")
        parser.add_argument("--asset-class", default="editorial")
        parser.add_argument("--preview-rate", type=float, default=0.0, help="preview-tier submissions per second")
        parser.add_argument("--settle", type=float, default=15.0, help="seconds to let jobs finish after the load")

    def handle(
        self,
        *args: object,
        url: str,
        pollers: int,
        rate: float,
        seconds: float,
        user: str,
        asset_class: str,
        preview_rate: float,
        settle: float,
        **_: object,
    ) -> None:  # type: ignore[no-untyped-def]
        editor = get_user_model().objects.get(username=user)
        token = api_token_create(user=editor, name="load_pollers")
        cookie = _session_cookie(editor)
        started_at = time.time()
        stop = time.monotonic() + seconds
        lock = threading.Lock()
        submitted: list[str] = []  # public ids, newest last
        previews: list[str] = []  # preview-tier jobs (--preview-rate)
        submit_ms: list[float] = []
        page_ms: list[float] = []
        errors: Counter[str] = Counter()
        codes: Counter[int] = Counter()

        def submit(n: int, klass: str = asset_class, into: list[str] = submitted) -> None:
            body = {"prompt": f'a bakery window with the word "OPEN {n}"', "seed": n, "asset_class": klass}
            t0 = time.perf_counter()
            try:
                response = api.post("/api/v1/renders", json=body)
            except httpx.HTTPError as exc:
                with lock:
                    errors[f"submit {type(exc).__name__}"] += 1
                return
            elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                submit_ms.append(elapsed)
                if response.status_code == 202:
                    into.append(response.json()["id"])
                else:
                    errors[f"submit {response.status_code}"] += 1

        def poll(index: int) -> None:
            etags: dict[str, str] = {}  # as the browser's cache: revalidate with the last ETag
            rested: set[str] = set()  # htmx stops polling a job on 286: the editor opens a newer one
            job_id: str | None = None
            with httpx.Client(base_url=url, cookies={"sessionid": cookie}, timeout=30) as client:
                while time.monotonic() < stop:
                    if job_id is None or job_id in rested:  # an editor stays on their job's page
                        with lock:
                            watching = [j for j in reversed(submitted) if j not in rested]
                        job_id = watching[index % len(watching)] if watching else None
                    if job_id is None:
                        time.sleep(POLL_INTERVAL_S)
                        continue
                    t0 = time.perf_counter()
                    try:
                        headers = {"HX-Request": "true"}
                        if job_id in etags:
                            headers["If-None-Match"] = etags[job_id]
                        response = client.get(f"/renders/{job_id}/", headers=headers)
                        ok = response.status_code in (200, 286, 304)
                        if "ETag" in response.headers:
                            etags[job_id] = response.headers["ETag"]
                        if response.status_code == 286:
                            rested.add(job_id)
                        with lock:
                            codes[response.status_code] += 1
                    except httpx.HTTPError as exc:
                        ok, response = False, None
                        with lock:
                            errors[f"page {type(exc).__name__}"] += 1
                    elapsed = (time.perf_counter() - t0) * 1000
                    with lock:
                        page_ms.append(elapsed)
                        if response is not None and not ok:
                            errors[f"page {response.status_code}"] += 1
                    time.sleep(max(0.0, POLL_INTERVAL_S - elapsed / 1000))

        limits = httpx.Limits(max_connections=64)
        with (
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30, limits=limits) as api,
            ThreadPoolExecutor(max_workers=32) as senders,
            ThreadPoolExecutor(max_workers=max(1, pollers)) as polling,
        ):
            for i in range(pollers):
                polling.submit(poll, i)
            arrivals = [(k / rate, "main") for k in range(1, int(seconds * rate) + 1)]
            if preview_rate > 0:
                arrivals += [(k / preview_rate, "preview") for k in range(1, int(seconds * preview_rate) + 1)]
            t0 = time.monotonic()
            for n, (at, kind) in enumerate(sorted(arrivals), start=1):  # open loop, both streams
                time.sleep(max(0.0, t0 + at - time.monotonic()))
                if time.monotonic() >= stop:
                    break
                if kind == "preview":
                    senders.submit(submit, n, "preview", previews)
                else:
                    senders.submit(submit, n)
        time.sleep(settle)
        jobs = RenderJob.objects.filter(public_id__in=submitted)
        admission = Counter(jobs.values_list("admission", flat=True))
        preview_s = [
            (ready - created).total_seconds() * 1000
            for created, ready in jobs.filter(preview_ready_at__isnull=False).values_list(
                "created_at", "preview_ready_at"
            )
        ]
        report = {
            "pollers": pollers,
            "rate_per_s": rate,
            "seconds": seconds,
            "started_at": started_at,
            "page_ms": percentiles(page_ms),
            "page_status_codes": {str(k): v for k, v in sorted(codes.items())},
            "submit_ms": percentiles(submit_ms),
            "errors": dict(errors),
            "jobs_submitted": len(submitted),
            "admission": dict(admission),
            "status": dict(Counter(jobs.values_list("status", flat=True))),
            "submit_to_preview_ms": percentiles(preview_s),
            "page_mean_ms": round(statistics.fmean(page_ms), 1) if page_ms else None,
            "load_average": [round(x, 1) for x in os.getloadavg()],
        }
        if preview_rate > 0:
            report["preview_tier"] = _preview_figures(previews)
            report["main_submit_to_final_ms"] = percentiles(
                [
                    (done - created).total_seconds() * 1000
                    for created, done in jobs.filter(status="delivered").values_list("created_at", "finished_at")
                ]
            )
        self.stdout.write(json.dumps(report))
