"""The queues and workers page in a real browser (Chromium through Playwright)."""

import os

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import sync_playwright

from apps.core.models import SweepRun
from tests.conftest import PASSWORD
from tests.metrics.helpers import heartbeat, publish

# Playwright's sync API runs an event loop in this thread; the ORM calls here are synchronous.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def test_queues_page_shows_a_stranded_queue_its_dead_worker_and_the_banner(live_server, demo, own_queues):
    publish(own_queues["verify"], 4)
    heartbeat(
        "engine@host",
        queues=[own_queues["preview"], own_queues["final"]],
        pool="thread",
        concurrency=16,
        current_tasks=[{"id": "a", "name": "renders.run_attempt", "started_at": timezone.now().isoformat()}],
        tasks_started=311,
    )
    heartbeat("verify@host", queues=[own_queues["verify"]], pool="prefork", concurrency=2, age_s=900, pid=7)
    SweepRun.objects.create(
        task="renders.sweep_stuck",
        started_at=timezone.now() - timezone.timedelta(minutes=3),
        duration_ms=41,
        result={"requeued": 3, "lost": 1, "reverified": 0},
        recovered=4,
    )
    shot = settings.VAR_DIR / "screenshots" / "queues.png"
    shot.parent.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{live_server.url}/accounts/login/?next=/metrics/queues/")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url("**/metrics/queues/")
        banner = page.locator("#worker-alert [role=alert]").inner_text()
        verify_row = page.locator(f"#queue-{own_queues['verify'].replace('.', '')}").inner_text()
        workers = page.locator("#worker-table tbody").inner_text()
        nav = page.locator("header nav").inner_text()
        page.screenshot(path=str(shot), full_page=True)
        browser.close()

    assert f"No live worker consumes {own_queues['verify']} (4 waiting" in banner
    assert verify_row.split("\t")[:2] == [own_queues["verify"], "4"]
    assert "no live worker" in verify_row
    assert "engine@host\tlive" in workers and "verify@host\tgone" in workers
    assert "renders.run_attempt" in workers
    assert "Queues" in nav
