"""An admin exports a template's training set from its page in a real browser (Chromium through
Playwright); a real Celery worker builds the zip. A moderator (not an admin) gets neither the
page nor the file."""

import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from apps.moderation import services as moderation
from apps.training.models import ExportStatus, TrainingExport
from tests.conftest import PASSWORD
from tests.moderation.helpers import typo_engine
from tests.training.helpers import exact_engine, final_job

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
SHOTS = Path("/tmp/shots/export")


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _page(browser, errors: list[str]):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    # Script errors (a CSP violation is one) and failed loads, except the favicon nobody ships.
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return page


def _login(page, base: str, username: str, next_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/accounts/login/?next={next_url}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")


def test_admin_downloads_the_training_set_and_a_moderator_cannot(
    live_server, demo, editor, moderator, celery_workers, browser, monkeypatch, django_capture_on_commit_callbacks
):
    # Renders are driven through the pipeline in this process (engine → storage → OCR gate);
    # only the export goes to the real worker.
    monkeypatch.setattr("apps.renders.pipeline.enqueue.attempt_run", lambda attempt: None)
    monkeypatch.setattr("apps.renders.pipeline.enqueue.attempt_verify", lambda attempt: None)
    captured = django_capture_on_commit_callbacks
    kept = [
        final_job(editor=editor, captured=captured, title=title, seed=seed, engine=exact_engine())
        for seed, title in ((61, "Harbour Lights Tonight"), (62, "Spring Sale Week"))
    ]
    rejected = final_job(editor=editor, captured=captured, title="Museum Archive", seed=63, engine=typo_engine())
    moderation.moderation_reject(job=rejected, by=moderator, reason="Misspelled title")
    errors: list[str] = []
    page = _page(browser, errors)
    page_url = "/templates/editorial-cover/"

    _login(page, live_server.url, "admin", page_url)
    page.fill("#id_min_real", "4")
    page.click("#export-button")
    link = page.locator("#export-list a.export-download").first
    expect(link).to_be_visible(timeout=60_000)  # the worker built it; the panel polled until then
    expect(page.locator("#export-list")).to_contain_text("rejected: 1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#training-export").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "template-page-export.png"), full_page=True)
    with page.expect_download() as info:
        link.click()
    download = info.value
    saved = SHOTS / download.suggested_filename
    download.save_as(saved)

    with zipfile.ZipFile(io.BytesIO(saved.read_bytes())) as archive:
        manifest = [json.loads(line) for line in archive.read("manifest.jsonl").decode().splitlines()]
        report = json.loads(archive.read("report.json"))
    assert download.suggested_filename.startswith("editorial-cover-training-set-")
    assert sorted(line["id"] for line in manifest if not line["synthetic"]) == sorted(str(j.public_id) for j in kept)
    assert (report["included"]["real"], report["included"]["synthetic"]) == (2, 2)
    assert report["left_out"] == {"rejected": 1}
    export = TrainingExport.objects.get()
    assert export.status == ExportStatus.DONE
    assert errors == []

    other = _page(browser, errors)
    _login(other, live_server.url, moderator.username, "/renders/")
    response = other.goto(f"{live_server.url}{page_url}")
    assert response is not None and response.status == 403
    expect(other.locator("#export-button")).to_have_count(0)
    denied = other.request.get(f"{live_server.url}/training/exports/{export.public_id}/download/")
    assert denied.status == 403
