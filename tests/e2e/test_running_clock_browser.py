"""The job page's running time ticks in the browser while polls answer 304 (running-clock.js)."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from apps.catalog.models import Template
from apps.renders.pipeline import enqueue
from apps.renders.pipeline.submit import job_submit
from tests.conftest import PASSWORD
from tests.e2e.test_editor_browser import browser_page  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_job_page_running_time_ticks_without_a_new_partial(live_server, demo, browser_page, monkeypatch):  # noqa: F811
    page, console_errors = browser_page
    monkeypatch.setattr(enqueue, "_send", lambda *args, **kwargs: None)  # no worker: the job keeps running
    job = job_submit(
        submitted_by=get_user_model().objects.get(username="editor"),
        template=Template.objects.get(slug="editorial-cover"),
        texts={"title": "Clock"},
    )
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "editor")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.goto(f"{live_server.url}/renders/{job.public_id}/")
    clock = page.locator("#job-status [data-running-since-ms]")
    expect(clock).to_be_visible()
    first = clock.inner_text()

    page.wait_for_function(
        "first => document.querySelector('#job-status [data-running-since-ms]').textContent !== first", arg=first
    )

    assert re.fullmatch(r"\d+ ms|\d+\.\d\d s", clock.inner_text())
    assert console_errors == []
