"""The job page's htmx poll answers 304 from one cheap query while nothing changed."""

import time

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.catalog.models import Template
from apps.renders.models import AttemptStatus, RenderAttempt
from apps.renders.pipeline.submit import job_submit

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def job(demo, editor, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=False):
        return job_submit(
            submitted_by=editor, template=Template.objects.get(slug="editorial-cover"), texts={"title": "Polls"}
        )


def test_job_detail_poll_unchanged_job_answers_not_modified_in_few_queries(
    client, job, editor, django_assert_num_queries
):
    client.force_login(editor)
    url = reverse("renders:job-detail", args=[job.public_id])
    first = client.get(url, headers=HTMX)
    assert first.status_code == 200
    etag = first["ETag"]

    # The floor's @login_required status partial: session, user, the job (performance.md §2).
    with django_assert_num_queries(3):  # session, user, the fingerprint (no permission queries)
        again = client.get(url, headers={**HTMX, "If-None-Match": etag})

    assert again.status_code == 304
    assert again["ETag"] == etag


def test_job_detail_poll_attempt_claimed_answers_the_new_state(client, job, editor):
    client.force_login(editor)
    url = reverse("renders:job-detail", args=[job.public_id])
    etag = client.get(url, headers=HTMX)["ETag"]

    RenderAttempt.objects.filter(job=job).update(status=AttemptStatus.RUNNING, started_at=timezone.now())
    response = client.get(url, headers={**HTMX, "If-None-Match": etag})

    assert response.status_code == 200
    assert response["ETag"] != etag
    assert b"Rendering" in response.content


def test_job_detail_poll_other_users_job_is_not_found(client, job, moderator, django_user_model):
    from tests.factories import UserFactory

    client.force_login(UserFactory(role="editor"))

    response = client.get(reverse("renders:job-detail", args=[job.public_id]), headers={**HTMX, "If-None-Match": '"x"'})

    assert response.status_code == 404


def test_job_detail_poll_moderator_sees_anyones_job_unchanged_as_not_modified(client, job, moderator):
    client.force_login(moderator)
    url = reverse("renders:job-detail", args=[job.public_id])
    etag = client.get(url, headers=HTMX)["ETag"]

    response = client.get(url, headers={**HTMX, "If-None-Match": etag})

    assert response.status_code == 304


def test_job_detail_poll_running_job_seconds_later_still_answers_not_modified(client, job, editor, monkeypatch):
    # The running time ticks in the browser (running-clock.js): the clock moving on is no
    # change, or every poller would get a whole new partial every second.
    client.force_login(editor)
    url = reverse("renders:job-detail", args=[job.public_id])
    first = client.get(url, headers=HTMX)
    assert b'data-running-since-ms="' in first.content
    later = time.time() + 5
    monkeypatch.setattr(time, "time", lambda: later)

    response = client.get(url, headers={**HTMX, "If-None-Match": first["ETag"]})

    assert response.status_code == 304


@pytest.mark.parametrize(
    "change",
    [
        {"image": "renders/x.png"},
        {"status": AttemptStatus.CANCELLED},
        {"finished_at": timezone.now()},
    ],
    ids=["image-stored", "cancelled", "finished"],
)
def test_job_detail_poll_attempt_change_moves_the_etag(client, job, editor, change):
    client.force_login(editor)
    url = reverse("renders:job-detail", args=[job.public_id])
    etag = client.get(url, headers=HTMX)["ETag"]

    RenderAttempt.objects.filter(job=job).update(**change)
    response = client.get(url, headers={**HTMX, "If-None-Match": etag})

    assert response.status_code == 200
    assert response["ETag"] != etag
