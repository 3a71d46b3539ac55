"""The job page's htmx poll answers 304 from one cheap query while nothing changed."""

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
    client, job, editor, django_assert_max_num_queries, monkeypatch
):
    from apps.renders import selectors

    monkeypatch.setattr(selectors, "_clock_second", lambda: 1_800_000_000)  # both polls within one second
    client.force_login(editor)
    url = reverse("renders:job-detail", args=[job.public_id])
    first = client.get(url, headers=HTMX)
    assert first.status_code == 200
    etag = first["ETag"]

    with django_assert_max_num_queries(5):  # session, user, its permissions (2), the fingerprint
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
