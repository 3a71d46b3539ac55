"""An admin attaches the simulated adapter to a template and runs the before/after harness in a
real browser (system Chromium through Playwright), with real Celery workers, PostgreSQL, Redis
and the real OCR gate. The engine is the built-in SIMULATION; the adapter lowers its typo rate."""

import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from apps.catalog.models import Template, TemplateAdapterChange
from apps.engines.models import Engine
from tests.conftest import PASSWORD
from tests.moderation.helpers import typo_engine

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SHOTS = Path(os.environ.get("RENDERHUB_SHOTS", "/tmp/shots/adapters"))


def _pts(text: str) -> int:
    match = re.search(r"([+-]\d+) pts", text)
    assert match, text
    return int(match.group(1))


def test_before_after_harness_shows_the_adapters_difference(live_server, celery_workers, demo):
    engine = typo_engine()  # misspells every text it draws, unless an adapter lowers the rate
    Engine.objects.filter(pk=engine.pk).update(price_usd=Decimal("0.04"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{live_server.url}/accounts/login/?next=/templates/editorial-cover/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")

        # Attach the adapter on the template page: it shows as active, with a history row.
        page.select_option("#id_adapter", label="Cover typography (simulated)")
        page.fill("#id_note", "before/after trial")
        page.click("#set-adapter")
        expect(page.locator("#active-adapter")).to_contain_text("Cover typography (simulated)")
        expect(page.locator("#adapter-history")).to_contain_text("before/after trial")
        page.screenshot(path=str(SHOTS / "template_page.png"), full_page=True)

        # The preset: same template, texts and seeds, with and without the adapter.
        page.click("#before-after-link")
        page.fill("#id_text_title", "Harbour Lights")
        page.select_option("#id_engine", label=engine.label)
        page.fill("#id_seeds", "1, 2, 3, 4, 5, 6")
        page.select_option("#id_tier", label="Preview")
        page.click("#start-trial")

        expect(page.locator("#simulation-note")).to_contain_text("Simulation")
        expect(page.locator("#trial-state")).to_contain_text("All renders finished.", timeout=120_000)
        without = page.locator('#adapter-arms tr.arm[data-arm="without"] .first-pass').inner_text()
        with_it = page.locator('#adapter-arms tr.arm[data-arm="cover-typography-sim"] .first-pass').inner_text()
        delta = page.locator("#adapter-arms tr.delta .first-pass-delta").inner_text()
        cost_delta = page.locator("#adapter-arms tr.delta .cost-delta").inner_text()
        images = page.locator("#trial-results img").count()
        page.screenshot(path=str(SHOTS / "before_after.png"), full_page=True)

        # The same split on the template's metrics page.
        page.goto(f"{live_server.url}/metrics/templates/editorial-cover/adapters/")
        metrics_delta = page.locator("#adapter-arms tr.delta .first-pass-delta").inner_text()
        page.screenshot(path=str(SHOTS / "template_metrics.png"), full_page=True)
        browser.close()

    assert TemplateAdapterChange.objects.get().template == Template.objects.get(slug="editorial-cover")
    assert images == 12  # six seeds, both arms
    assert without.startswith("0 %")  # every first pass without the adapter had a typo the gate caught
    assert _pts(delta) > 0
    assert int(with_it.split(" %")[0]) == _pts(delta)
    assert _pts(metrics_delta) == _pts(delta)
    assert cost_delta.startswith("−$")  # fewer escalations: each delivered image costs less
