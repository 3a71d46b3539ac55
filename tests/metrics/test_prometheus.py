"""/metrics: scraped and parsed with prometheus_client's own text parser, values from seeded rows,
from a real worker process's heartbeats, and the same figures from another process."""

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.core.models import SweepRun, WorkerHeartbeat
from apps.engines.models import Engine
from apps.policy.models import Tier
from apps.renders.models import AttemptStatus, JobEvent, JobStatus, RenderAttempt, RenderJob
from apps.verification.models import VerificationResult
from tests.conftest import ROOT, _test_database_url, start_worker, wait_for
from tests.metrics.helpers import publish

TOKEN = "scrape-secret"


@pytest.fixture(autouse=True)
def _metrics_token(settings):  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []


def _job(
    *, tier: str, source: str, status: str, preview_s: float | None, final_s: float | None, seed: int
) -> RenderJob:
    job = RenderJob.objects.create(
        prompt="p",
        seed=seed,
        width=512,
        height=512,
        tier=Tier.objects.get(slug=tier),
        source=source,
        status=status,
        submitted_by=get_user_model().objects.get(username="editor"),
    )
    t0 = timezone.now() - timedelta(hours=1)
    RenderJob.objects.filter(pk=job.pk).update(
        created_at=t0,
        preview_ready_at=t0 + timedelta(seconds=preview_s) if preview_s is not None else None,
        finished_at=t0 + timedelta(seconds=final_s) if final_s is not None else None,
    )
    return job


def _attempt(job: RenderJob, number: int, *, stage: str, engine: str, verdict: str | None, cost: str) -> None:
    verification = VerificationResult.objects.create(verdict=verdict) if verdict else None
    RenderAttempt.objects.create(
        job=job,
        number=number,
        stage=stage,
        engine=Engine.objects.get(slug=engine),
        prompt="p",
        seed=job.seed,
        requested_size="512x512",
        status={"pass": AttemptStatus.PASSED, "fail": AttemptStatus.FAILED, "review": AttemptStatus.REVIEW}.get(
            verdict or "", AttemptStatus.ERROR
        ),
        cost_usd=Decimal(cost),
        verification=verification,
    )


def _scrape(client) -> dict:  # type: ignore[no-untyped-def]
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_scrape_reports_latency_attempts_cost_queues_and_workers(client, demo):
    a = _job(tier="production", source="web", status=JobStatus.DELIVERED, preview_s=0.6, final_s=2.0, seed=1)
    b = _job(tier="production", source="web", status=JobStatus.DELIVERED, preview_s=1.2, final_s=4.5, seed=2)
    c = _job(tier="preview", source="api", status=JobStatus.PREVIEW_READY, preview_s=0.3, final_s=None, seed=3)
    reviewed = _job(tier="production", source="web", status=JobStatus.DELIVERED, preview_s=0.7, final_s=900, seed=4)
    JobEvent.objects.create(job=reviewed, from_status="rendering", to_status=JobStatus.NEEDS_REVIEW)
    _attempt(a, 1, stage="preview", engine="builtin-turbo", verdict="pass", cost="0.04")
    _attempt(a, 2, stage="final", engine="builtin-ultra", verdict="pass", cost="0.06")
    _attempt(b, 1, stage="preview", engine="builtin-turbo", verdict="pass", cost="0.04")
    _attempt(b, 2, stage="final", engine="builtin-ultra", verdict="fail", cost="0.06")
    _attempt(b, 3, stage="final", engine="builtin-ultra", verdict="pass", cost="0.06")
    _attempt(c, 1, stage="preview", engine="builtin-turbo", verdict="review", cost="0.04")
    _attempt(c, 2, stage="preview", engine="builtin-turbo", verdict=None, cost="0")  # an engine error
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        node="celery@live", pid=1, queues=["render.preview"], started_at=now, last_seen_at=now - timedelta(seconds=3)
    )
    SweepRun.objects.create(
        task="renders.sweep_stuck", started_at=now, duration_ms=5, result={"requeued": 2, "lost": 1}, recovered=3
    )

    m = _scrape(client)

    prod_web = (("source", "web"), ("tier", "production"))
    assert m[("renderhub_time_to_preview_seconds_bucket", (("le", "0.75"), *prod_web))] == 2  # 0.6 and 0.7 s
    assert m[("renderhub_time_to_preview_seconds_bucket", (("le", "1.5"), *prod_web))] == 3
    assert m[("renderhub_time_to_preview_seconds_count", prod_web)] == 3
    assert m[("renderhub_time_to_preview_seconds_sum", prod_web)] == pytest.approx(2.5)
    assert m[("renderhub_time_to_preview_seconds_count", (("source", "api"), ("tier", "preview")))] == 1
    # The final: the reviewed job (a person's wait) is left out.
    assert m[("renderhub_time_to_final_seconds_bucket", (("le", "2.0"), *prod_web))] == 1
    assert m[("renderhub_time_to_final_seconds_bucket", (("le", "5.0"), *prod_web))] == 2
    assert m[("renderhub_time_to_final_seconds_bucket", (("le", "+Inf"), *prod_web))] == 2
    assert m[("renderhub_time_to_final_seconds_sum", prod_web)] == pytest.approx(6.5)

    def attempts(stage: str, engine: str, verdict: str) -> float:
        key = ("renderhub_render_attempts_total", (("engine", engine), ("stage", stage), ("verdict", verdict)))
        return m[key]

    assert attempts("final", "builtin-ultra", "pass") == 2
    assert attempts("final", "builtin-ultra", "fail") == 1
    assert attempts("preview", "builtin-turbo", "pass") == 2
    assert attempts("preview", "builtin-turbo", "review") == 1
    assert attempts("preview", "builtin-turbo", "error") == 1
    assert m[("renderhub_cost_usd_total", (("engine", "builtin-ultra"), ("tier", "production")))] == pytest.approx(0.18)
    assert m[("renderhub_cost_usd_total", (("engine", "builtin-turbo"), ("tier", "production")))] == pytest.approx(0.08)
    assert m[("renderhub_cost_usd_total", (("engine", "builtin-turbo"), ("tier", "preview")))] == pytest.approx(0.04)
    assert m[("renderhub_jobs", (("source", "web"), ("status", "delivered"), ("tier", "production")))] == 3
    assert m[("renderhub_worker_up", (("worker", "celery@live"),))] == 1
    assert 3 <= m[("renderhub_worker_heartbeat_age_seconds", (("worker", "celery@live"),))] < 60
    assert m[("renderhub_sweep_last_recovered", (("kind", "requeued"),))] == 2
    assert ("renderhub_queue_depth", (("queue", "render.preview"),)) in m


def test_metrics_without_a_valid_token_is_refused(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_metrics_from_an_allowlisted_network_needs_no_token(client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 401


def test_metrics_with_no_token_and_no_allowlist_says_how_to_open_it(client, settings):
    settings.METRICS_TOKEN = ""

    response = client.get("/metrics")

    assert response.status_code == 403
    assert b"METRICS_TOKEN" in response.content


# Families whose every sample must be the same whichever process answers the scrape.
SHARED_FAMILIES = (
    "renderhub_time_to_preview_seconds",
    "renderhub_time_to_final_seconds",
    "renderhub_render_attempts_total",
    "renderhub_cost_usd_total",
    "renderhub_jobs",
    "renderhub_worker_up",
    "renderhub_worker_crashes",
)


def _shared(samples: dict) -> dict:  # type: ignore[type-arg]
    return {key: value for key, value in samples.items() if key[0].startswith(SHARED_FAMILIES)}


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_metrics_scrape_sees_other_processes_work_and_answers_the_same_in_every_process(
    client, demo, own_queues, tmp_path
):
    """With several gunicorn and Celery processes, an in-memory registry would answer what its
    own process saw. Here a real Celery worker process's heartbeat shows in this process's
    scrape, the broker's depth of a queue is exact, and a second process (`manage.py shell`, the
    same code a second gunicorn worker runs) parses to the same histograms and counters."""
    a = _job(tier="production", source="web", status=JobStatus.DELIVERED, preview_s=0.6, final_s=2.0, seed=11)
    _attempt(a, 1, stage="preview", engine="builtin-turbo", verdict="pass", cost="0.04")
    _attempt(a, 2, stage="final", engine="builtin-ultra", verdict="fail", cost="0.06")
    _attempt(a, 3, stage="final", engine="builtin-ultra", verdict="pass", cost="0.06")
    publish(own_queues["verify"], 3)
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "RENDERHUB_VAR_DIR": str(settings.VAR_DIR),
    }
    name = f"prom-{uuid.uuid4().hex[:8]}"
    worker = start_worker(name, [own_queues["preview"]], "threads", 1, env, tmp_path)
    try:
        node = wait_for(
            lambda: WorkerHeartbeat.objects.filter(node__startswith=f"{name}@").values_list("node", flat=True).first()
        )
        here = _scrape(client)
        script = "from apps.metrics.prometheus import exposition; print(exposition()[0].decode())"
        other = subprocess.run(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    there = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(other.stdout)
        for sample in family.samples
    }

    assert here[("renderhub_worker_up", (("worker", node),))] == 1
    assert here[("renderhub_worker_heartbeat_age_seconds", (("worker", node),))] < 60
    assert here[("renderhub_worker_running_tasks", (("worker", node),))] == 0
    assert here[("renderhub_queue_depth", (("queue", own_queues["verify"]),))] == 3
    assert here[("renderhub_queue_depth", (("queue", own_queues["preview"]),))] == 0
    verdicts = (("engine", "builtin-ultra"), ("stage", "final"))
    assert here[("renderhub_render_attempts_total", (*verdicts, ("verdict", "fail")))] == 1
    ultra_production = (("engine", "builtin-ultra"), ("tier", "production"))
    assert here[("renderhub_cost_usd_total", ultra_production)] == pytest.approx(0.12)
    assert _shared(there) == _shared(here)
    assert ("renderhub_worker_up", (("worker", node),)) in there
