"""Worker heartbeats from real Celery worker processes on the test database."""

import os
import signal
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from apps.core import workers
from apps.core.models import WorkerHeartbeat
from tests.conftest import _test_database_url, start_worker, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_worker_heartbeat_shows_a_clean_stop_and_a_kill_as_a_crash(tmp_path):
    queue = f"hb-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "RENDERHUB_VAR_DIR": str(settings.VAR_DIR),
        "RENDERHUB_HEARTBEAT_SECONDS": "0.5",
        "RENDERHUB_WORKER_RESTARTS": "2",
    }
    stopped = start_worker(f"stopped-{queue}", [queue], "threads", 2, env, tmp_path)
    killed = start_worker(f"killed-{queue}", [queue], "prefork", 1, env, tmp_path)
    try:
        rows = wait_for(lambda: list(WorkerHeartbeat.objects.filter(queues__contains=[queue])) if
                        WorkerHeartbeat.objects.filter(queues__contains=[queue]).count() >= 3 else None)  # fmt: skip
        stopped.send_signal(signal.SIGTERM)
        stopped.wait(timeout=30)
        killed.send_signal(signal.SIGKILL)  # the main process: its prefork child is orphaned
        killed.wait(timeout=30)
    finally:
        for proc in (stopped, killed):
            if proc.poll() is None:
                proc.kill()

    assert {(r.role, r.pool, r.restarts) for r in rows if r.node.startswith("stopped")} == {("main", "thread", 2)}
    assert {r.role for r in rows if r.node.startswith("killed")} == {"main", "child"}
    clean = WorkerHeartbeat.objects.get(node__startswith="stopped", queues__contains=[queue])
    assert clean.stopped_at is not None and clean.exit_ok is True
    later = timezone.now() + timedelta(seconds=60)
    states = {s.node.split("-")[0]: s for s in workers.worker_states(now=later) if queue in s.node}
    assert (states["stopped"].live, states["stopped"].crashes) == (False, 0)
    assert (states["killed"].live, states["killed"].crashes) == (False, 1)
