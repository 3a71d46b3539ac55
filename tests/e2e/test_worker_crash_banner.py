"""When the embedded worker dies, an open page says so within seconds (issue 10, point 1).

`make run`'s stack (run_embedded: SQLite, the filesystem broker, one worker with the sweeper)
in a scratch folder, an editor's page open in Chromium through Playwright, then the worker
killed with SIGKILL as a crash would. run_embedded starts a new worker at once, so no queue is
ever stranded: before, the banner (which only looked for stranded work) said nothing, and the
renders the dead worker held waited minutes for the sweeper with nothing on any page.
"""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.harness.test_browser import CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
# The suite's autouse fixtures set up the test database; this test uses only its scratch SQLite.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db]
PASSWORD = "crash-banner-pw"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Children of every thread of `pid` (the watcher thread starts the replacement worker)."""
    return [int(p) for task in Path(f"/proc/{pid}/task").iterdir() for p in (task / "children").read_text().split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _wait(predicate, what: str, log: Path, timeout: float = 90):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"{what}:\n{log.read_text(errors='replace')[-3000:]}"
        time.sleep(0.2)
    return value


def test_page_shows_the_embedded_worker_crash_within_seconds(tmp_path):
    var = tmp_path / "var"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "RENDERHUB_VAR_DIR": str(var), "DEBUG": "true"}
    for args in (["migrate", "--noinput"], ["seed_demo", "--password", PASSWORD]):
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
    port = _free_port()
    log = tmp_path / "server.log"
    server = subprocess.Popen(
        [sys.executable, "manage.py", "run_embedded", "--port", str(port), "--concurrency", "2"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    leftovers: list[int] = []
    shot = tmp_path / "worker-crash.png"
    try:
        worker = _wait(lambda: (_children(server.pid) or [None])[0], "no worker started", log)
        db = var / "renderhub.sqlite3"

        def beating() -> bool:
            with sqlite3.connect(db) as conn:
                query = "SELECT count(*) FROM core_workerheartbeat WHERE pid = ? AND stopped_at IS NULL"
                return conn.execute(query, (worker,)).fetchone()[0] == 1

        _wait(beating, "the worker wrote no heartbeat", log)
        leftovers = _children(worker)  # its embedded beat process
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/accounts/login/?next=/renders/new/")
            page.fill("input[name=username]", "editor")
            page.fill("input[name=password]", PASSWORD)
            page.click("main button[type=submit]")
            page.wait_for_url("**/renders/new/")
            banner = page.locator("#worker-alert [role=alert]")
            assert banner.count() == 0  # a live worker, nothing stranded

            os.kill(worker, signal.SIGKILL)
            killed_at = time.monotonic()
            # No reload: the page's own 5 s poll of the banner must bring it.
            expect(banner).to_contain_text("A worker crashed:", timeout=60_000)
            seen_after_s = time.monotonic() - killed_at
            crashed_text = banner.inner_text()
            expect(banner).to_contain_text("a new one is running", timeout=60_000)
            replaced_text = banner.inner_text()
            page.screenshot(path=str(shot), full_page=True)
            browser.close()
        # The dead worker's beat process (its child) is stopped with it, not left sending the
        # periodic tasks beside the new worker's beat after run_embedded is gone.
        assert leftovers
        _wait(lambda: not any(_alive(p) for p in leftovers), "the dead worker's beat outlived it", log, timeout=20)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=40)
        for pid in leftovers:
            if _alive(pid):
                os.kill(pid, signal.SIGTERM)
    print(f"banner {seen_after_s:.1f} s after the kill; screenshot {shot}")

    assert f"(pid {worker}) at " in crashed_text
    assert "Renders it was running continue when the sweeper recovers them" in crashed_text
    assert "Renders are stuck" not in replaced_text  # the new worker consumes every queue
    assert "Worker exited (-9); starting a new one." in log.read_text()
