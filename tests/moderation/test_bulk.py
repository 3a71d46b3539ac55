"""The queue's heading follows the list; several renders decided at once with one reason."""

import os

import pytest
from django.urls import reverse
from playwright.sync_api import sync_playwright

from apps.moderation import services
from apps.renders.models import JobStatus, RenderJob
from tests.conftest import PASSWORD
from tests.e2e.test_editor_browser import CHROMIUM, CHROMIUM_ARGS
from tests.factories import UserFactory
from tests.moderation.helpers import review_job

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _queue(editor, captured, n=3):  # type: ignore[no-untyped-def]
    titles = ["Spring Sale", "Night Market", "Harbour Lights"][:n]
    return [review_job(editor=editor, captured=captured, title=t, seed=i) for i, t in enumerate(titles)]


@pytest.mark.django_db
def test_queue_refresh_updates_heading_and_breakdown_out_of_band(
    client, demo, editor, moderator, django_capture_on_commit_callbacks
):
    _queue(editor, django_capture_on_commit_callbacks, n=2)
    client.force_login(moderator)

    body = client.get(reverse("moderation:queue"), HTTP_HX_REQUEST="true").content.decode()

    assert 'id="queue-list"' in body
    assert '<small class="muted" id="queue-total" hx-swap-oob="true">2 waiting · 2 shown</small>' in body
    assert '<div class="counts" id="queue-counts" hx-swap-oob="true">' in body


@pytest.mark.django_db
def test_bulk_reject_decides_each_with_one_reason_and_leaves_others_claims(
    client, demo, editor, moderator, django_capture_on_commit_callbacks
):
    jobs = _queue(editor, django_capture_on_commit_callbacks)
    other = UserFactory(role="moderator")
    services.claim_take(job=jobs[2], by=other)
    client.force_login(moderator)

    response = client.post(
        reverse("moderation:bulk"),
        {"job": [str(j.public_id) for j in jobs] + ["not-an-id"], "action": "reject", "reason": "Misspelled title"},
        follow=True,
    )

    statuses = [RenderJob.objects.get(pk=j.pk).status for j in jobs]
    body = response.content.decode()
    assert statuses == [JobStatus.REJECTED, JobStatus.REJECTED, JobStatus.NEEDS_REVIEW]
    assert '<span id="undo-text">Rejected 2 renders</span>' in body
    assert "Not decided: Harbour Lights: Another moderator is working on this job." in body
    assert {d.reason for j in jobs[:2] for d in j.moderation_decisions.filter(action="reject")} == {"Misspelled title"}


@pytest.mark.django_db
def test_bulk_reject_without_a_reason_decides_nothing(
    client, demo, editor, moderator, django_capture_on_commit_callbacks
):
    jobs = _queue(editor, django_capture_on_commit_callbacks, n=1)
    client.force_login(moderator)

    response = client.post(
        reverse("moderation:bulk"), {"job": [str(jobs[0].public_id)], "action": "reject", "reason": ""}, follow=True
    )

    assert RenderJob.objects.get(pk=jobs[0].pk).status == JobStatus.NEEDS_REVIEW
    assert "A rejection needs a reason" in response.content.decode()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_moderator_approves_two_at_once_in_a_browser(
    live_server, demo, editor, moderator, django_capture_on_commit_callbacks
):
    jobs = _queue(editor, django_capture_on_commit_callbacks)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{live_server.url}/accounts/login/?next=/moderation/")
        page.fill("#id_username", moderator.username)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url("**/moderation/")
        heading = page.inner_text("#queue-total")
        boxes = page.locator("#queue-list tbody input[type=checkbox]")
        boxes.nth(0).check()
        boxes.nth(1).check()
        page.click("#bulk-approve")
        page.wait_for_url("**/moderation/")
        after = page.inner_text("#queue-total")
        browser.close()

    assert heading == "3 waiting · 3 shown"
    assert after == "1 waiting · 1 shown"
    assert [RenderJob.objects.get(pk=j.pk).status for j in jobs].count(JobStatus.DELIVERED) == 2
