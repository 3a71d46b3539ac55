"""Bad input to the moderation forms is a clear 400 that changes nothing (it was a 500 or a silent cut)."""

import pytest
from django.urls import reverse

from apps.moderation import services
from apps.moderation.models import ModerationDecision
from apps.renders.models import JobStatus
from tests.moderation.helpers import review_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(demo, editor, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    return review_job(editor=editor, captured=django_capture_on_commit_callbacks)


@pytest.fixture
def claimed(job, moderator, client):  # type: ignore[no-untyped-def]
    services.claim_take(job=job, by=moderator)
    client.force_login(moderator)
    return job


@pytest.mark.parametrize("skip", ["not-a-uuid", "1234", "\u0000"])
def test_next_with_a_malformed_skip_id_is_400(client, job, moderator, skip):
    client.force_login(moderator)

    response = client.post(reverse("moderation:claim-next"), {"skip": skip})

    assert response.status_code == 400
    assert b"skip must be the id of a render" in response.content


@pytest.mark.parametrize("note", ["fine\u0000", "n" * 501])
def test_approve_with_a_bad_note_is_400_and_changes_nothing(client, claimed, note):
    response = client.post(reverse("moderation:approve", args=[claimed.public_id]), {"note": note})

    claimed.refresh_from_db()
    assert response.status_code == 400
    assert 'id="approve-errors"' in response.content.decode()
    assert claimed.status == JobStatus.NEEDS_REVIEW


def test_approve_with_a_note_records_it_whole(client, claimed):
    note = "n" * 500

    response = client.post(reverse("moderation:approve", args=[claimed.public_id]), {"note": note})

    claimed.refresh_from_db()
    assert response.status_code == 302
    assert claimed.status == JobStatus.DELIVERED
    assert ModerationDecision.objects.get(job=claimed, action="approve").reason == note


def test_reject_with_a_nul_in_the_reason_is_400_and_changes_nothing(client, claimed):
    response = client.post(reverse("moderation:reject", args=[claimed.public_id]), {"reason": "bad\u0000"})

    claimed.refresh_from_db()
    body = response.content.decode()
    assert response.status_code == 400
    assert "Null characters are not allowed." in body
    assert claimed.status == JobStatus.NEEDS_REVIEW
