"""Stopping `run_embedded` by its PID stops its worker too; a worker that dies is replaced and
what it held runs again within seconds."""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The suite's autouse fixtures set up the test database for every test.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (its parent has not reaped it yet).
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def _children(pid: int) -> list[int]:
    """Children of every thread of `pid` (the watcher thread starts the replacement worker)."""
    return [int(p) for task in Path(f"/proc/{pid}/task").iterdir() for p in (task / "children").read_text().split()]


def _embedded_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "RENDERHUB_VAR_DIR": str(tmp_path / "var"),
        "DEBUG": "true",
    }


def _start_embedded(env: dict[str, str], log: Path) -> subprocess.Popen:
    """`run_embedded` with one worker thread, its output in `log`."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_embedded", "--port", str(_free_port()), "--concurrency", "1"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _first_worker(server: subprocess.Popen, log: Path) -> int:
    deadline = time.monotonic() + 60
    while not _children(server.pid):
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)
    return _children(server.pid)[0]


def test_run_embedded_stops_its_worker_on_sigterm(tmp_path):
    """SIGTERM (kill PID) skipped the `finally` that stops the worker: the Celery worker and its
    beat lived on as orphans, consuming the broker after the web server was gone."""
    log = tmp_path / "server.log"
    server = _start_embedded(_embedded_env(tmp_path), log)
    worker_pid = None
    try:
        worker_pid = _first_worker(server, log)
        time.sleep(3)  # let the worker get going

        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

        deadline = time.monotonic() + 5
        while _alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(worker_pid), log.read_text()[-2000:]
    finally:
        if server.poll() is None:
            server.kill()
        if worker_pid and _alive(worker_pid):
            # SIGTERM first: a killed worker would orphan its embedded beat process.
            os.kill(worker_pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while _alive(worker_pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(worker_pid):
                os.kill(worker_pid, signal.SIGKILL)


def test_run_embedded_starts_a_new_worker_when_its_worker_dies(tmp_path):
    log = tmp_path / "server.log"
    server = _start_embedded(_embedded_env(tmp_path), log)
    try:
        first = _first_worker(server, log)

        os.kill(first, signal.SIGKILL)

        deadline = time.monotonic() + 30
        while not [p for p in _children(server.pid) if p != first and _alive(p)]:
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        assert "starting a new one" in log.read_text()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


# A job whose first attempt is QUEUED with no message in the broker: what a worker killed right
# after taking the message from the broker leaves behind.
SUBMIT_WITHOUT_MESSAGE = """
from unittest import mock
from django.contrib.auth import get_user_model
from apps.policy.models import Tier
from apps.renders.pipeline.submit import job_submit
with mock.patch("apps.renders.pipeline.enqueue.attempt_run"):
    job = job_submit(submitted_by=get_user_model().objects.get(username="editor"),
                     tier=Tier.objects.get(slug="preview"), prompt="A lighthouse at dusk")
print(job.attempts.get().pk)
"""


def test_work_the_dead_worker_held_is_sent_again_at_once_not_after_the_sweepers_wait(tmp_path):
    env = _embedded_env(tmp_path)
    for args in (["migrate", "--noinput"], ["seed_demo"], ["shell", "-c", SUBMIT_WITHOUT_MESSAGE]):
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
    attempt_id = int(done.stdout.split()[-1])
    db = tmp_path / "var" / "renderhub.sqlite3"

    def status() -> str:
        with sqlite3.connect(db, timeout=30) as conn:
            query = "SELECT status FROM renders_renderattempt WHERE id = ?"
            return conn.execute(query, (attempt_id,)).fetchone()[0]

    log = tmp_path / "server.log"
    server = _start_embedded(env, log)
    try:
        os.kill(_first_worker(server, log), signal.SIGKILL)
        killed_at = time.monotonic()
        # The periodic sweeper would send it again only 120 s after it was queued
        # (RENDERHUB_REQUEUE_AFTER_S); the replacement worker runs it now.
        while status() == "queued":
            assert time.monotonic() - killed_at < 45, log.read_text()[-3000:]
            time.sleep(0.5)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert status() != "queued"
