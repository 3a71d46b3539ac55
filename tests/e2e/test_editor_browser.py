"""An editor in a real browser (the system Chromium, driven by Playwright)."""

import os

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import PASSWORD

# Playwright's sync API runs an event loop in this thread; the ORM calls made by the
# fixtures are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture
def browser_page():  # type: ignore[no-untyped-def]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        yield page, errors
        browser.close()


def test_editor_logs_in_submits_and_watches_the_preview_appear(live_server, celery_workers, demo, browser_page):
    page, console_errors = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "editor")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_have_text("New render")
    # htmx (a deferred script) binds the select on DOMContentLoaded: a change before that is
    # never sent. The heading can show first when the server answers fast.
    page.wait_for_load_state("load")

    # Choosing a template swaps in its slot fields (htmx), without a page load.
    page.select_option("#id_template", label="Product thumbnail")
    # A wait, not a timing: on a loaded CI machine the live server answered the swap in over 5 s.
    expect(page.locator("#id_text_overlay")).to_be_visible(timeout=20_000)
    page.select_option("#id_template", label="Editorial cover")
    expect(page.locator("#id_text_title")).to_be_visible(timeout=20_000)
    page.fill("#id_text_title", "Harbour Lights")
    page.fill("#id_seed", "21")
    page.click("#new-render button[type=submit]")

    expect(page.locator("#job-status")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#preview-image")).to_be_visible(timeout=20_000)
    natural_width = page.eval_on_selector("#preview-image", "img => img.naturalWidth")
    expect(page.locator("#final-image")).to_be_visible(timeout=30_000)
    status = page.locator("#job-status [data-status]").get_attribute("data-status")

    assert page.evaluate("window.__sameDocument === true")  # updated in place, never reloaded
    assert natural_width == 768
    assert status in ("rendering", "delivered", "needs_review")
    assert not [e for e in console_errors if "Content Security Policy" in e]
