"""The harness form in a real browser (Chromium through Playwright)."""

import os

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import PASSWORD

# Playwright's sync API runs an event loop in this thread; the ORM calls here are synchronous.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def test_harness_engine_checkboxes_sit_beside_their_names(live_server, demo):
    """The generic `label` rule stacked each checkbox centred above its engine name, so it was
    unclear which box picked which engine."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{live_server.url}/accounts/login/?next=/harness/")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url("**/harness/")

        label = page.locator("#new-comparison fieldset label").first
        box = label.locator("input[type=checkbox]").bounding_box()
        label_box = label.bounding_box()
        browser.close()

    assert box is not None and label_box is not None
    assert box["x"] - label_box["x"] < 10  # the box starts the line
    assert label_box["height"] < 2 * box["height"] + 10  # one line, not box above name
