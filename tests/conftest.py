"""Shared fixtures: demo data, users per role, and real Celery worker processes.

Pipeline tests run against the real services of `make test`: PostgreSQL (DATABASE_URL)
and Redis (CELERY_BROKER_URL), with worker processes started here on the test database.
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "pw-for-tests"
_live_workers: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _process_caches_clear() -> None:
    """Each test starts with empty per-process caches (apps.core.ttlcache): rows cached by
    an earlier test were rolled back with it."""
    from apps.core.ttlcache import clear_all

    clear_all()


@pytest.fixture
def demo(db):  # type: ignore[no-untyped-def]
    """The demo tiers, templates and built-in engines (and users with PASSWORD)."""
    from apps.renders.demo import demo_seed

    demo_seed(password=PASSWORD)


@pytest.fixture
def editor(db):  # type: ignore[no-untyped-def]
    return UserFactory(role="editor")


@pytest.fixture
def moderator(db):  # type: ignore[no-untyped-def]
    return UserFactory(role="moderator")


@pytest.fixture
def admin_user(db):  # type: ignore[no-untyped-def]
    return UserFactory(role="admin")


def _test_database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.fail("Worker tests need PostgreSQL: run them through `make test` (it sets DATABASE_URL).")
    from django.db import connection

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def start_worker(
    name: str, queues: list[str], pool: str, concurrency: int, env: dict[str, str], log_dir: Path
) -> subprocess.Popen:
    log = log_dir / f"worker-{name}.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "renderhub",
            "worker",
            "-n",
            f"{name}@%h",
            "-Q",
            ",".join(queues),
            "--pool",
            pool,
            "-c",
            str(concurrency),
            "-l",
            "info",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker {name} exited:\n{log.read_text()[-3000:]}")
        if "ready." in log.read_text(errors="replace"):
            return proc
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"worker {name} did not start:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def celery_workers(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[dict[str, object]]:  # type: ignore[no-untyped-def]
    """Real worker processes on the test database: engine I/O (threads) and verification
    (prefork), on separate queues as in production. Use with `transactional_db`."""
    import redis

    broker = settings.CELERY_BROKER_URL
    if broker.startswith("redis"):
        redis.Redis.from_url(broker).flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": broker,
        "RENDERHUB_VAR_DIR": str(settings.VAR_DIR),
        "RENDERHUB_BUILTIN_LATENCY_SCALE": os.environ.get("TEST_LATENCY_SCALE", "0.2"),
    }
    log_dir = tmp_path_factory.mktemp("workers")
    q = settings.RENDERHUB_QUEUES
    procs = [
        start_worker("engine", [q["preview"], q["final"], "default"], "threads", 8, env, log_dir),
        start_worker("verify", [q["verify"], q["verify_preview"]], "prefork", 1, env, log_dir),
    ]
    _live_workers.extend(procs)
    yield {"env": env, "log_dir": log_dir, "procs": procs}
    _live_workers.clear()
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll `predicate` until it returns something truthy; fail with a clear message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture(autouse=True)
def _fresh_cache():  # type: ignore[no-untyped-def]
    """Each test starts with an empty cache: the banner's cached worker state (and its queries)
    must not depend on which test ran before."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _quiesce_workers(request):  # type: ignore[no-untyped-def]
    """After a transactional test, let the live workers finish what they hold before the
    database is flushed: a TRUNCATE racing a worker's UPDATE deadlocks. Queued messages of
    the finished test are dropped first, so workers pick up nothing new."""
    # Set up the DB fixture first so that this teardown runs before its flush.
    request.getfixturevalue("_django_db_helper")
    yield
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    if not _live_workers or not transactional:
        return
    import redis

    from apps.renders.models import AttemptStatus, RenderAttempt

    broker = settings.CELERY_BROKER_URL
    if broker.startswith("redis"):
        client = redis.Redis.from_url(broker)
        names = [k for k in client.keys("*") if not k.startswith((b"_kombu", b"unacked"))]
        if names:
            client.delete(*names)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and RenderAttempt.objects.filter(status=AttemptStatus.RUNNING).exists():
        time.sleep(0.1)
    time.sleep(0.5)  # a verification in progress finishes
