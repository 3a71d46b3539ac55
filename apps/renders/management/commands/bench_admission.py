"""Admission against history: submission latency, statements and query plans with 1k and then
100k past attempts (PostgreSQL only).

For each `--history` size, past jobs are added (two finished attempts each, spread over the
last 30 days, on the benchmark's production tier, plus one CostOutcome per job for the
expected-attempts model) up to that many attempts, the tables are ANALYZEd, and then
`--submissions` jobs are submitted in this process through the API (Django's test client,
token auth and all) with the enqueue step captured, not sent: no worker runs, and each new
job's attempts are marked finished a day ago right after, so the queues stay as they were.
Reports per size: submission p50/p95/p99 in ms, statements per submission, and the plan
(EXPLAIN) of every submission statement that reads a table growing with history
(attempts, jobs, cost outcomes, verification results), flagging any sequential scan.

Needs DEBUG=true for manage.py. `--history 1000,100000 --submissions 200` is the issue's
measurement; the seeded rows stay (source "history"), so a second run reuses them.
"""

import json
import statistics
import time
from datetime import timedelta
from typing import Any
from unittest import mock

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core import procstat
from apps.renders.management.commands.bench_orchestration import (
    PROMPT,
    bench_fixtures,
    bench_token,
    summary,
)
from apps.renders.models import AttemptStatus, RenderAttempt, RenderJob
from apps.renders.pipeline import enqueue

GROWING = ("renders_renderattempt", "renders_renderjob", "policy_costoutcome", "verification_verificationresult")

SEED_JOBS = """
INSERT INTO renders_renderjob (public_id, texts, typed_text, prompt, negative_prompt, regions, seed, width,
    height, tier_id, asset_class, source, with_preview, auto_final, status, status_reason, admission,
    admission_reason, estimated_cost_usd, actual_cost_usd, submitted_by_id, adapter_off, created_at, updated_at,
    finished_at)
SELECT gen_random_uuid(), '{}', '', 'history', '', '{}', g, 768, 512, %(tier)s, 'bench-production', 'history',
    true, true, 'delivered', '', 'admitted', '', 0, 0, %(user)s, false,
    now() - interval '2 minutes' - (g %% 2592000) * interval '1 second',
    now() - interval '2 minutes' - (g %% 2592000) * interval '1 second',
    now() - interval '2 minutes' - (g %% 2592000) * interval '1 second'
FROM generate_series(1, %(n)s) g
RETURNING id
"""
SEED_ATTEMPTS = """
INSERT INTO renders_renderattempt (job_id, number, stage, engine_id, guidance, step, reason, prompt, seed,
    status, requested_size, sent, timings_ms, cost_usd, price_source, image, image_mime, error_kind, error,
    vendor_request_id, adapter_use, created_at, started_at, finished_at)
SELECT j.id, s.n, CASE WHEN s.n = 1 THEN 'preview' ELSE 'final' END, %(engine)s, 0, 'initial', '', 'history',
    j.seed, 'passed', '768x512', '{}', '{}', 0, '', '', '', '', '', '', '', j.created_at, j.created_at, j.finished_at
FROM renders_renderjob j CROSS JOIN (VALUES (1), (2)) AS s(n)
WHERE j.id = ANY(%(ids)s)
"""
SEED_OUTCOMES = """
INSERT INTO policy_costoutcome (template, engine, attempts, delivered, ref, created_at)
SELECT '', %(engine)s, 1, true, '', now() - interval '2 minutes' - (g %% 2592000) * interval '1 second'
FROM generate_series(1, %(n)s) g
"""


def history_grow(*, attempts: int) -> int:
    """Add past jobs until there are at least `attempts` attempts; returns the count."""
    from apps.engines.models import Engine
    from apps.policy.models import Tier

    have = RenderAttempt.objects.count()
    if have > attempts * 1.1 and RenderJob.objects.filter(source="history").exists():
        # Back down to about `attempts`: drop seeded jobs (their attempts go with them).
        extra_jobs = (have - attempts) // 2
        doomed = RenderJob.objects.filter(source="history").order_by("pk").values_list("pk", flat=True)[:extra_jobs]
        RenderJob.objects.filter(pk__in=list(doomed)).delete()
        with connection.cursor() as cur:
            cur.execute(
                "DELETE FROM policy_costoutcome WHERE id IN (SELECT id FROM policy_costoutcome ORDER BY id LIMIT %s)",
                [extra_jobs],
            )
            for table in GROWING:
                cur.execute(f"ANALYZE {table}")
        return RenderAttempt.objects.count()
    if have >= attempts:
        return have
    tier = Tier.objects.get(slug="bench-production")
    engine = Engine.objects.get(pk=tier.final_engine_id)
    user_id = RenderJob.objects.values_list("submitted_by_id", flat=True).first()
    if user_id is None:
        raise CommandError("no user to own the history jobs")
    jobs = (attempts - have + 1) // 2
    with connection.cursor() as cur:
        cur.execute(SEED_JOBS, {"tier": tier.pk, "user": user_id, "n": jobs})
        ids = [row[0] for row in cur.fetchall()]
        cur.execute(SEED_ATTEMPTS, {"engine": engine.pk, "ids": ids})
        cur.execute(SEED_OUTCOMES, {"engine": engine.slug, "n": jobs})
        for table in GROWING:
            cur.execute(f"ANALYZE {table}")
    return RenderAttempt.objects.count()


def plans(statements: list[dict[str, str]]) -> list[dict[str, Any]]:
    """EXPLAIN of each SELECT/UPDATE that reads a table growing with history."""
    out = []
    with connection.cursor() as cur:
        for statement in statements:
            sql = statement["sql"]
            if not sql.lstrip().upper().startswith(("SELECT", "UPDATE")) or not any(t in sql for t in GROWING):
                continue
            # A SELECT is run (EXPLAIN ANALYZE: PostgreSQL's own execution time, which the
            # machine's load disturbs less than a wall clock); an UPDATE only planned.
            analyze = sql.lstrip().upper().startswith("SELECT") and "FOR UPDATE" not in sql.upper()
            cur.execute(("EXPLAIN ANALYZE " if analyze else "EXPLAIN ") + sql)
            plan = [row[0] for row in cur.fetchall()]
            scans = [line.strip() for line in plan if "Seq Scan" in line and any(t in line for t in GROWING)]
            executed = [line for line in plan if line.startswith("Execution Time")]
            out.append(
                {
                    "sql": sql[:200],
                    "seq_scans_on_growing_tables": scans,
                    "execution": executed[0] if executed else "",
                    "plan": plan,
                }
            )
    return out


class Command(BaseCommand):
    help = "Submission latency, statements and plans with 1k and 100k past attempts (PostgreSQL)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--history", default="1000,100000")
        parser.add_argument("--submissions", type=int, default=200)
        parser.add_argument("--show-plans", action="store_true")

    def handle(self, *args: object, history: str, submissions: int, show_plans: bool, **opts: object) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("Set DATABASE_URL to PostgreSQL.")
        classes = bench_fixtures(engine_kind="null")
        token = bench_token()
        client = Client(HTTP_HOST="127.0.0.1")
        results = []
        for size in [int(s) for s in history.split(",") if s]:
            attempts = history_grow(attempts=size)
            times: list[float] = []
            counts: list[int] = []
            growing_ms: list[float] = []
            last: list[dict[str, str]] = []
            load_before = procstat.load_average()
            with mock.patch.object(enqueue, "_send", return_value=None):
                for i in range(submissions + 5):
                    reset_queries()  # DEBUG keeps only the last 9000 statements
                    with CaptureQueriesContext(connection) as q:
                        t0 = time.perf_counter()
                        response = client.post(
                            "/api/v1/renders",
                            data=json.dumps({"prompt": PROMPT, "asset_class": classes["production"], "seed": i}),
                            content_type="application/json",
                            HTTP_AUTHORIZATION=f"Bearer {token}",
                        )
                        elapsed = (time.perf_counter() - t0) * 1000
                    if response.status_code != 202:
                        raise CommandError(f"submission answered {response.status_code}: {response.content[:300]!r}")
                    RenderAttempt.objects.filter(job__public_id=response.json()["id"]).update(
                        status=AttemptStatus.PASSED, finished_at=timezone.now() - timedelta(days=1)
                    )
                    if i < 5:
                        continue  # warm-up
                    times.append(elapsed)
                    counts.append(len(q))
                    growing_ms.append(
                        sum(
                            float(c["time"]) * 1000
                            for c in q.captured_queries
                            if any(t in c["sql"] for t in GROWING) and not c["sql"].startswith("INSERT")
                        )
                    )
                    last = q.captured_queries
            explained = plans(last)
            results.append(
                {
                    "past_attempts": attempts,
                    "load_average_before": load_before,
                    "load_average_after": procstat.load_average(),
                    "submission_ms": summary(times),
                    "statements_per_submission": statistics.median(counts),
                    # DB time of the statements reading growing tables (Django's DEBUG timing)
                    "growing_table_reads_ms": summary(growing_ms),
                    "growing_table_statements": len(explained),
                    "seq_scans_on_growing_tables": sum(len(p["seq_scans_on_growing_tables"]) for p in explained),
                    "plans": explained if show_plans else [f"{p['execution']}: {p['sql']}" for p in explained],
                }
            )
        self.stdout.write(json.dumps(results, indent=2, default=str))
