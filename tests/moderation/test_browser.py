"""A moderator clears the queue in a real browser (Chromium through Playwright)."""

import os

import pytest
from playwright.sync_api import expect, sync_playwright

from apps.moderation.models import ModerationDecision
from apps.renders.models import JobStatus, RenderJob
from tests.conftest import PASSWORD
from tests.moderation.helpers import review_job

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


@pytest.fixture
def browser_page():  # type: ignore[no-untyped-def]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        errors: list[str] = []
        # Script errors (a CSP violation is one) and failed loads, except the favicon nobody ships.
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "response",
            lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 and "favicon" not in r.url else None,
        )
        page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
        yield page, errors
        browser.close()


def test_moderator_clears_the_queue_in_a_browser(
    live_server, demo, editor, moderator, browser_page, monkeypatch, django_capture_on_commit_callbacks
):
    # Jobs are driven through the pipeline in-process; nothing is sent to a broker.
    monkeypatch.setattr("apps.renders.pipeline.enqueue.attempt_run", lambda attempt: None)
    monkeypatch.setattr("apps.renders.pipeline.enqueue.attempt_verify", lambda attempt: None)
    titles = ["Harbour Lights Tonight", "Spring Sale Week", "Night Market Stories"]
    jobs = [
        review_job(editor=editor, captured=django_capture_on_commit_callbacks, title=t, seed=i)
        for i, t in enumerate(titles)
    ]
    assert [j.status for j in jobs] == [JobStatus.NEEDS_REVIEW] * 3
    page, errors = browser_page

    page.goto(f"{live_server.url}/accounts/login/?next=/moderation/")
    page.fill("input[name=username]", moderator.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#queue-total")).to_have_text("3 waiting · 3 shown")

    page.click("#next-button")  # claims the oldest job and opens it
    expect(page.locator("#ocr-overlay rect.word").first).to_be_attached()
    expect(page.locator(".diff del, .diff ins").first).to_be_visible()
    expect(page.locator("#checks")).to_contain_text("text:title")
    page.keyboard.press("a")  # approve by shortcut → the next job opens

    expect(page.locator("#claim-state")).to_contain_text("You are working on this job")
    page.keyboard.press("r")  # focus the reason
    page.keyboard.type("Misspelled title")
    page.keyboard.press("Enter")

    expect(page.locator("#claim-state")).to_contain_text("You are working on this job")
    page.click("#approve-button")

    expect(page.locator("#queue-empty")).to_have_text("Nothing waiting for review.")
    expect(page.locator("#queue-total")).to_have_text("0 waiting · 0 shown")
    statuses = sorted(RenderJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list("status", flat=True))
    assert statuses == sorted([JobStatus.DELIVERED, JobStatus.REJECTED, JobStatus.DELIVERED])
    decided = ModerationDecision.objects.exclude(action="claim").order_by("created_at")
    assert [(d.action, d.moderator_id) for d in decided] == [
        ("approve", moderator.pk),
        ("reject", moderator.pk),
        ("approve", moderator.pk),
    ]
    assert decided[1].reason == "Misspelled title"
    assert errors == []


def test_review_page_shows_the_gates_evidence_in_a_browser(
    live_server, demo, editor, moderator, browser_page, monkeypatch, django_capture_on_commit_callbacks, tmp_path
):
    from apps.moderation import services
    from apps.verification.gate import verify_image
    from tests.verification.images import card

    monkeypatch.setattr("apps.renders.pipeline.enqueue.attempt_run", lambda attempt, **kwargs: None)
    monkeypatch.setattr("apps.renders.pipeline.enqueue.attempt_verify", lambda attempt, **kwargs: None)
    job = review_job(editor=editor, captured=django_capture_on_commit_callbacks, title="Wild Garden", seed=3)
    reports = [
        verify_image(image=card([("SALE $9.99", (70, 300))], font_size=64), expected={"t": "SALE €9.99"}, regions={}),
        verify_image(image=card([("Wi1d Garden", (70, 300))], font_size=72), expected={"t": "Wild Garden"}, regions={}),
        verify_image(image=card([], font_size=64), expected={"t": "Harbour Lights"}, regions={}),
    ]
    attempt = job.attempts.exclude(verification=None).order_by("-number").first()
    attempt.verification.checks = [c for r in reports for c in r.checks_as_dicts() if c["name"] == "text:t"]
    attempt.verification.save(update_fields=["checks"])
    services.claim_take(job=job, by=moderator)
    page, errors = browser_page

    page.goto(f"{live_server.url}/accounts/login/?next=/moderation/{job.public_id}/")
    page.fill("input[name=username]", moderator.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    checks = page.locator("#checks")
    expect(checks.locator(".evidence-symbol")).to_contain_text("Price reads $9.99, expected €9.99 (currency)")
    expect(checks.locator(".evidence-second-opinion")).to_contain_text("Second opinion on “wild” (first read “wi1d”")
    expect(checks.locator(".evidence-unreadable")).to_contain_text("Could not read this text")
    page.locator("#checks").screenshot(path=str(tmp_path / "review-evidence.png"))
    assert errors == []
