"""The metrics page in a real browser (Chromium through Playwright), screenshots kept in
VAR_DIR/screenshots (make test: var/test/screenshots/metrics-day.png, metrics-hour-api.png)."""

import os
from datetime import timedelta

import pytest
from django.conf import settings
from playwright.sync_api import sync_playwright

from apps.moderation.models import ModerationDecision
from apps.renders.models import JobStatus, Stage
from tests.conftest import PASSWORD
from tests.harness.test_browser import CHROMIUM_ARGS
from tests.metrics.test_ops import _job

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = pytest.mark.django_db(transaction=True)

WIDEST_TABLE = "Math.max(...[...document.querySelectorAll('main table')].map(t => t.offsetWidth))"
PASSED = [(Stage.PREVIEW, "initial", "0.01", "pass", 300), (Stage.FINAL, "initial", "0.04", "pass", 1500)]


def test_metrics_page_range_selector_and_charts_in_a_browser(live_server, demo, editor, moderator):
    _job(user=editor, tier_slug="production", preview_ms=450, final_ms=2600, attempts=PASSED)
    _job(user=editor, tier_slug="production", source="api", preview_ms=500, final_ms=1900, attempts=PASSED)
    old = _job(
        user=editor,
        tier_slug="production",
        status=JobStatus.REJECTED,
        preview_ms=400,
        final_ms=2100,
        age=timedelta(hours=3),
        attempts=[(Stage.PREVIEW, "initial", "0.01", "pass", 300), (Stage.FINAL, "initial", "0.04", "review", 1500)],
    )
    ModerationDecision.objects.create(job=old, moderator=moderator, action=ModerationDecision.Action.REJECT)
    shots = settings.VAR_DIR / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1800})
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{live_server.url}/accounts/login/?next=/metrics/")
        page.fill("input[name=username]", "moderator")
        page.fill("input[name=password]", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url("**/metrics/")
        day = {
            "counts": page.inner_text("#source-counts"),
            "reject": page.inner_text("#reject-rate"),
            "latency": page.inner_text("#latency tbody"),
        }
        page.screenshot(path=str(shots / "metrics-day.png"), full_page=True)

        page.select_option("select[name=range]", "hour")
        page.select_option("select[name=source]", "api")
        page.click("#metrics-filter button[type=submit]")
        page.wait_for_url("**/metrics/?range=hour&source=api")
        counts = page.inner_text("#source-counts")
        reject = page.inner_text("#reject-rate")
        legend = page.locator("figure.chart .chart-legend").first.inner_text()
        polylines = page.locator("svg.chart-svg polyline").count()
        dots = page.locator("svg.chart-svg circle.dot").count()
        bar_box = page.locator("svg.chart-svg rect.chart-bar").first.bounding_box()
        widest_table = page.evaluate(WIDEST_TABLE)
        main_width = page.evaluate("document.querySelector('main').clientWidth")
        page_width = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(shots / "metrics-hour-api.png"), full_page=True)
        browser.close()

    # The last day: all three sources' jobs, the one rejected by moderation three hours ago included.
    assert day["counts"].startswith("3 jobs shown")
    assert "web 2 · api 1 · harness 0" in day["counts"]
    assert day["reject"] == "100 %"
    # Latency counts the jobs that did not wait for a person: 2.6 s is over the 2.2 s budget.
    assert day["latency"].split("\t")[:4] == ["Production", "2.20 s to final", "2", "1 (50 %)"]
    # The last hour, API only: the range and the source reach every figure.
    assert counts.startswith("1 job shown")
    assert "web 1 · api 1 · harness 0" in counts
    assert reject == "–"
    assert legend.split() == ["p95", "to", "preview,", "all", "tiers", "p95", "to", "final,", "all", "tiers"]
    assert polylines == 2
    assert dots == 2  # one bucket with data: p95 to preview and to final
    assert bar_box is not None and bar_box["width"] > 0
    assert widest_table <= main_width and page_width <= 1280  # nothing overflows the page
    assert errors == []
