"""The metrics page in a real browser (Chromium through Playwright)."""

import os

import pytest
from playwright.sync_api import sync_playwright

from apps.renders.models import Stage
from tests.conftest import PASSWORD
from tests.harness.test_browser import CHROMIUM_ARGS
from tests.metrics.test_ops import _job

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = pytest.mark.django_db(transaction=True)


def test_metrics_page_range_selector_and_charts_in_a_browser(live_server, demo, editor, tmp_path):
    _job(user=editor, tier_slug="production", preview_ms=450, final_ms=2600,
         attempts=[(Stage.PREVIEW, "initial", "0.01", "pass", 300), (Stage.FINAL, "initial", "0.04", "pass", 1500)])
    _job(user=editor, tier_slug="production", source="api", preview_ms=500, final_ms=1900,
         attempts=[(Stage.PREVIEW, "initial", "0.01", "pass", 300), (Stage.FINAL, "initial", "0.04", "pass", 1500)])
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
        page.select_option("select[name=range]", "hour")
        page.select_option("select[name=source]", "api")
        page.click("#metrics-filter button[type=submit]")
        page.wait_for_url("**/metrics/?range=hour&source=api")
        counts = page.inner_text("#source-counts")
        polylines = page.locator("svg.chart-svg polyline").count()
        dots = page.locator("svg.chart-svg circle.dot").count()
        bar_box = page.locator("svg.chart-svg rect.chart-bar").first.bounding_box()
        page.screenshot(path=str(os.environ.get("METRICS_SCREENSHOT", tmp_path / "metrics.png")), full_page=True)
        browser.close()

    assert counts.startswith("1 job shown")
    assert "web 1 · api 1 · harness 0" in counts
    assert polylines == 2
    assert dots == 2  # one bucket with data: p95 to preview and to final
    assert bar_box is not None and bar_box["width"] > 0
    assert errors == []
