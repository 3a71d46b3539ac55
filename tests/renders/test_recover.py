"""Editors recover: cancel a job, render it again (same or new seed), edit its text; the final
of a failed preview still has its own attempts for the escalation ladder."""

import os

import pytest
from django.urls import reverse
from playwright.sync_api import sync_playwright

from apps.catalog.models import Template
from apps.policy.models import BudgetLedger, Tier
from apps.renders.models import AttemptStatus, JobStatus, RenderJob
from apps.renders.pipeline.submit import job_submit
from tests.conftest import PASSWORD
from tests.e2e.test_editor_browser import CHROMIUM, CHROMIUM_ARGS

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _submit(editor, capture, *, template="editorial-cover", texts=None):  # type: ignore[no-untyped-def]
    with capture(execute=False):
        return job_submit(
            submitted_by=editor,
            template=Template.objects.get(slug=template),
            texts=texts or {"title": "Spring Sale"},
            seed=11,
        )


@pytest.mark.django_db
def test_cancel_releases_the_hold_and_cancels_queued_attempts(client, demo, editor, django_capture_on_commit_callbacks):
    job = _submit(editor, django_capture_on_commit_callbacks)
    assert BudgetLedger.objects.get(tier=job.tier, team="").reserved_usd > 0
    client.force_login(editor)

    client.post(reverse("renders:job-cancel", args=[job.public_id]))

    job.refresh_from_db()
    ledger = BudgetLedger.objects.get(tier=job.tier, team="")
    assert job.status == JobStatus.CANCELLED
    assert job.events.last().actor == editor
    assert [a.status for a in job.attempts.all()] == [AttemptStatus.CANCELLED]
    assert ledger.reserved_usd == 0


@pytest.mark.django_db
def test_cancel_of_a_finished_job_is_refused_with_a_message(client, demo, editor, django_capture_on_commit_callbacks):
    job = _submit(editor, django_capture_on_commit_callbacks)
    RenderJob.objects.filter(pk=job.pk).update(status=JobStatus.DELIVERED)
    client.force_login(editor)

    response = client.post(reverse("renders:job-cancel", args=[job.public_id]), follow=True)

    assert "can be cancelled" in response.content.decode()
    assert RenderJob.objects.get(pk=job.pk).status == JobStatus.DELIVERED


@pytest.mark.django_db
@pytest.mark.parametrize(("choice", "same"), [("same", True), ("new", False)])
def test_render_again_makes_a_new_job_with_the_same_text(
    client, demo, editor, django_capture_on_commit_callbacks, choice, same
):
    job = _submit(editor, django_capture_on_commit_callbacks)
    client.force_login(editor)

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("renders:job-again", args=[job.public_id]), {"seed": choice})

    again = RenderJob.objects.exclude(pk=job.pk).get()
    assert response.url == reverse("renders:job-detail", args=[again.public_id])
    assert (again.texts, again.template_id, again.tier_id) == (job.texts, job.template_id, job.tier_id)
    assert (again.seed == job.seed) is same


@pytest.mark.django_db
def test_edit_the_text_fills_the_new_render_form_from_the_job(client, demo, editor, django_capture_on_commit_callbacks):
    job = _submit(editor, django_capture_on_commit_callbacks, texts={"title": "Night Market"})
    client.force_login(editor)

    body = client.get(reverse("renders:job-new"), {"from": str(job.public_id)}).content.decode()

    assert 'value="Night Market"' in body
    assert 'value="11"' in body


@pytest.mark.django_db
def test_final_after_a_failed_preview_still_gets_its_escalation(demo, editor, django_capture_on_commit_callbacks):
    """max_attempts counts per stage: a failed preview no longer uses up the final's attempt."""
    from apps.policy import services as policy

    tier = Tier.objects.get(slug="production")
    Tier.objects.filter(pk=tier.pk).update(max_attempts=2)
    tier.refresh_from_db()
    job = _submit(editor, django_capture_on_commit_callbacks)  # attempt 1: the preview

    step = policy.escalation_next(
        tier=tier,
        attempts_made=job.attempts.filter(stage="final").count() + 1,  # the first final failed
        last_guidance=0,
        verdict_reasons=["title misspelled"],
        ref=str(job.public_id),
        width=job.width,
        height=job.height,
        last_engine=tier.final_engine,
    )

    assert step.step != "review"


def _waiting_cover(*, editor, title: str) -> RenderJob:  # type: ignore[no-untyped-def]
    """An editorial cover waiting in its queue (no worker runs in these tests)."""
    return RenderJob.objects.create(
        prompt="p",
        seed=1,
        width=768,
        height=512,
        tier=Tier.objects.get(slug="production"),
        template=Template.objects.get(slug="editorial-cover"),
        texts={"title": title},
        submitted_by=editor,
    )


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_editor_cancels_a_waiting_job_in_a_browser(live_server, demo, editor):
    job = _waiting_cover(editor=editor, title="Spring Sale")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{live_server.url}/accounts/login/?next=/renders/{job.public_id}/")
        page.fill("#id_username", editor.username)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(f"**/renders/{job.public_id}/")
        page.click("#cancel-job")
        page.wait_for_load_state()
        status = page.get_attribute("[data-status]", "data-status")
        has_again = page.locator("#again-new-seed").count()
        browser.close()

    assert status == "cancelled"
    assert has_again == 1


@pytest.mark.django_db
def test_job_page_of_a_job_cancelled_while_its_preview_rendered_shows_the_paid_preview(
    client, demo, editor, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """Cancelled while the preview's engine call ran: the page (rendered right after the cancel)
    said "No preview" and stopped polling, though the call answered, was billed and is in the zip.
    It keeps polling while the call runs, then shows the preview with its cost."""
    from apps.renders.pipeline import run
    from apps.renders.pipeline.decisions import job_cancel

    settings.RENDERHUB_BUILTIN_LATENCY_SCALE = 0
    job = _submit(editor, django_capture_on_commit_callbacks)
    client.force_login(editor)
    url = reverse("renders:job-detail", args=[job.public_id])
    real_generate = run.engine_generate
    seen: list[str] = []

    def cancel_then_generate(**kw):  # type: ignore[no-untyped-def]
        job_cancel(RenderJob.objects.get(pk=job.pk), by=editor)
        seen.append(client.get(url, headers={"HX-Request": "true"}).content.decode())
        return real_generate(**kw)

    monkeypatch.setattr(run, "engine_generate", cancel_then_generate)
    with django_capture_on_commit_callbacks(execute=True):
        run.attempt_run(attempt_id=job.attempts.get().pk)

    body = client.get(url).content.decode()

    during = seen[0].split('id="preview-figure">')[1].split("</figure>")[0]
    assert "No preview" not in during
    assert "hx-trigger" in seen[0]  # still polling: the call is billed whatever the cancel
    preview = body.split('id="preview-figure">')[1].split("</figure>")[0]
    assert RenderJob.objects.get(pk=job.pk).status == JobStatus.CANCELLED
    assert 'id="preview-image"' in preview
    assert "$0.04" in preview


@pytest.mark.django_db(transaction=True)
def test_right_to_left_titles_are_isolated_in_lists_and_job_pages_in_a_browser(live_server, demo, editor):
    """A right-to-left title outside <bdi> reordered the quotes and text around it."""
    title = "מבצע 50% הנחה"
    job = _waiting_cover(editor=editor, title=title)
    isolated = "el => [el.textContent, getComputedStyle(el).unicodeBidi]"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{live_server.url}/accounts/login/?next=/renders/")
        page.fill("#id_username", editor.username)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url("**/renders/")
        in_list = [page.eval_on_selector(f"bdi:text-is('{title}')", isolated)] if page.locator("bdi").count() else []
        page.goto(f"{live_server.url}/renders/{job.public_id}/")
        found = page.locator("#job-status dd bdi").count()
        on_page = [page.eval_on_selector("#job-status dd bdi", isolated)] if found else []
        browser.close()

    assert in_list == [[title, "isolate"]]
    assert on_page == [[title, "isolate"]]
