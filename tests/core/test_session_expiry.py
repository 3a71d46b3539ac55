"""An htmx request after the session expired sends the browser to the login page."""

import os

import pytest
from django.urls import reverse
from playwright.sync_api import sync_playwright

from apps.policy.models import Tier
from apps.renders.models import RenderJob
from tests.conftest import PASSWORD
from tests.e2e.test_editor_browser import CHROMIUM, CHROMIUM_ARGS

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _queued_job(user) -> RenderJob:  # type: ignore[no-untyped-def]
    return RenderJob.objects.create(
        prompt="p", seed=1, width=768, height=512, tier=Tier.objects.get(slug="production"), submitted_by=user
    )


@pytest.mark.django_db
def test_htmx_poll_without_session_gets_hx_redirect_to_login_with_the_page_as_next(client, demo, editor):
    job = _queued_job(editor)
    page = reverse("renders:job-detail", args=[job.public_id])

    response = client.get(page, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{page}?tab=1")

    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=%2Frenders%2F" + str(job.public_id) + "%2F%3Ftab%3D1"
    assert response.content == b""


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["moderation:queue", "metrics:dashboard", "policy:tier-list", "engines:engine-list"])
def test_htmx_requests_to_any_role_page_redirect_the_browser(client, demo, name):
    response = client.get(reverse(name), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/accounts/login/?next=")


@pytest.mark.django_db
def test_plain_requests_keep_the_ordinary_login_redirect(client, demo):
    response = client.get(reverse("metrics:dashboard"))

    assert response.status_code == 302
    assert "HX-Redirect" not in response


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_job_page_polling_after_session_expiry_goes_to_login_in_a_browser(live_server, demo, editor):
    job = _queued_job(editor)  # no worker runs: the page keeps polling
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/?next=/renders/{job.public_id}/")
        page.fill("#id_username", editor.username)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(f"**/renders/{job.public_id}/")
        context.clear_cookies()  # the session ends while the page polls
        page.wait_for_url("**/accounts/login/?next=*", timeout=10_000)
        url = page.url
        login_forms = page.locator("form input[name=password]").count()
        browser.close()

    assert url.endswith(f"/accounts/login/?next=%2Frenders%2F{job.public_id}%2F")
    assert login_forms == 1  # the login page itself, not a login form swapped into the job card
