"""Lost work is noticed in seconds: attempt leases renewed by the worker, the sweeper that
retries an attempt whose lease ran out on the same stage's engine, and engine errors of any
kind ending the attempt at once with their real reason."""

import os
import signal
import subprocess
import time

import pytest
from django.conf import settings

from apps.catalog.models import Template
from apps.engines.models import Engine
from apps.policy.models import Tier
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob, Stage
from apps.renders.pipeline.run import attempt_run
from apps.renders.pipeline.submit import job_submit
from apps.renders.pipeline.sweeper import sweep_stuck
from tests.conftest import _test_database_url, start_worker, wait_for

LEASE_S = 3
QUEUES = ["lease.preview", "lease.final"]


@pytest.fixture
def lease_env(django_db_setup, tmp_path):  # type: ignore[no-untyped-def]
    """Worker environment on the test database: real engine latency, a 3 s lease."""
    return {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "RENDERHUB_VAR_DIR": str(settings.VAR_DIR),
        "RENDERHUB_BUILTIN_LATENCY_SCALE": "1.0",
        "RENDERHUB_LEASE_S": str(LEASE_S),
    }


@pytest.fixture
def started(lease_env, tmp_path):  # type: ignore[no-untyped-def]
    """Start workers (killed or stopped at the end, whatever the test did to them)."""
    procs: list[subprocess.Popen] = []

    def start(name: str, queues: list[str], pool: str = "threads") -> subprocess.Popen:
        proc = start_worker(name, queues, pool, 2 if pool == "threads" else 1, lease_env, tmp_path)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _slow(engine_slug: str) -> None:
    # Four seconds per call, no spread: long enough to kill the worker in the middle of it.
    engine = Engine.objects.get(slug=engine_slug)
    engine.params = {**engine.params, "latency_p50_ms": 4000, "latency_sigma": 0, "tail_prob": 0}
    engine.save(update_fields=["params"])


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("stage", [Stage.PREVIEW, Stage.FINAL])
def test_sweeper_sigkilled_render_worker_attempt_retried_on_same_engine_within_lease(
    stage, started, demo, editor, settings
):
    # The production tier on queues of its own, so only this test's workers take its attempts.
    Tier.objects.filter(slug="production").update(preview_queue=QUEUES[0], final_queue=QUEUES[1], hedge_previews=False)
    _slow("builtin-turbo" if stage == Stage.PREVIEW else "builtin-ultra")
    started("lease-verify", [settings.RENDERHUB_QUEUES["verify"]], pool="prefork")
    doomed = started("lease-a", QUEUES)
    job = job_submit(
        submitted_by=editor, template=Template.objects.get(slug="editorial-cover"), texts={"title": "Tide"}, seed=5
    )
    lost = wait_for(
        lambda: RenderAttempt.objects.filter(job=job, stage=stage, status=AttemptStatus.RUNNING).first(), timeout=60
    )
    wait_for(lambda: RenderAttempt.objects.get(pk=lost.pk).lease_until is not None, timeout=10)

    os.kill(doomed.pid, signal.SIGKILL)  # the whole worker, mid engine call: nothing acks, nothing cleans up
    doomed.wait()
    killed_at = time.monotonic()
    started("lease-b", QUEUES)

    def swept_and_settled() -> RenderJob | None:
        sweep_stuck()  # what beat runs every few seconds
        job.refresh_from_db()
        return job if job.status in {JobStatus.DELIVERED, JobStatus.NEEDS_REVIEW, JobStatus.FAILED} else None

    wait_for(swept_and_settled, timeout=90, interval=0.5)
    lost.refresh_from_db()
    retry = RenderAttempt.objects.get(job=job, stage=stage, number=lost.number + 1)
    assert (lost.status, lost.error_kind) == (AttemptStatus.ERROR, "worker_lost")
    assert "lease" in lost.error
    assert (retry.stage, retry.engine_id, retry.step) == (stage, lost.engine_id, "lost")
    assert job.status in {JobStatus.DELIVERED, JobStatus.NEEDS_REVIEW}, job.status_reason
    # The retry was queued once the lease ran out, not after the task's hard time limit.
    assert (retry.created_at - lost.lease_until).total_seconds() < 30
    assert time.monotonic() - killed_at < 90


@pytest.mark.django_db
def test_attempt_run_engine_raising_value_error_ends_attempt_at_once_with_that_reason(demo, editor, settings):
    settings.RENDERHUB_BUILTIN_LATENCY_SCALE = 0
    # Thousands of quoted words at a small size: the simulation's text layout raises ValueError.
    prompt = "a poster reading " + " ".join(f'"w{i}"' for i in range(2000))
    job = job_submit(submitted_by=editor, prompt=prompt, width=256, height=256, seed=1, with_preview=True)
    attempt = job.attempts.get()

    attempt_run(attempt_id=attempt.pk)

    attempt.refresh_from_db()
    assert (attempt.status, attempt.error_kind) == (AttemptStatus.ERROR, "adapter_crash")
    assert "ValueError: Coordinate 'lower' is less than 'upper'" in attempt.error
    assert attempt.finished_at is not None
