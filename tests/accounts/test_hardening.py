"""Login throttling (site and admin), API token expiry, and who may spend on a job."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.catalog.models import Template
from apps.policy.models import Reservation
from apps.renders.models import JobStatus
from apps.renders.pipeline.state import job_transition
from apps.renders.pipeline.submit import job_submit
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RIGHT = "the-right-password-42"


def _cool_off_passes() -> None:
    """Move the recorded failures back past the cool-off (no sleeping in tests)."""
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))


@pytest.mark.parametrize(
    ("url", "is_staff"), [("/accounts/login/", False), ("/django-admin/login/", True)], ids=["site", "admin"]
)
def test_login_locks_after_too_many_wrong_passwords_until_the_cool_off(client, url, is_staff):
    user = UserFactory(role="editor", is_staff=is_staff, is_superuser=is_staff)
    user.set_password(RIGHT)
    user.save()

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post(url, {"username": user.username, "password": "wrong"}).status_code == 200
    last_wrong = client.post(url, {"username": user.username, "password": "wrong"})
    locked = client.post(url, {"username": user.username, "password": RIGHT})

    assert last_wrong.status_code == 429

    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "even the right password is refused" in locked.content.decode()
    assert "_auth_user_id" not in client.session

    _cool_off_passes()
    after = client.post(url, {"username": user.username, "password": RIGHT})

    assert after.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_login_lock_is_per_username(client):
    victim, other = UserFactory(role="editor"), UserFactory(role="editor")
    other.set_password(RIGHT)
    other.save()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": victim.username, "password": "wrong"})

    response = client.post("/accounts/login/", {"username": other.username, "password": RIGHT})

    assert response.status_code == 302


def test_expired_token_is_401_saying_so(client, demo, editor):
    key = api_token_create(user=editor, expires_days=1)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = client.get("/api/v1/renders/00000000-0000-0000-0000-000000000000", HTTP_AUTHORIZATION=f"Bearer {key}")

    assert response.status_code == 401
    assert "expired" in response.json()["error"]
    assert ApiToken.objects.get().last_used_at is None


def test_token_before_its_expiry_works_and_records_its_use(client, demo, editor):
    key = api_token_create(user=editor, expires_days=1)

    response = client.get("/api/v1/renders/00000000-0000-0000-0000-000000000000", HTTP_AUTHORIZATION=f"Bearer {key}")

    assert response.status_code == 404
    assert ApiToken.objects.get().last_used_at is not None


def test_create_api_token_command_sets_the_expiry(editor, capsys):
    call_command("create_api_token", editor.username, "--expires-days", "2")

    token = ApiToken.objects.get()
    assert capsys.readouterr().out.strip().startswith("rh_")
    assert abs(token.expires_at - (timezone.now() + timedelta(days=2))) < timedelta(minutes=1)


@pytest.fixture
def previewed(demo, editor, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=False):
        job = job_submit(
            submitted_by=editor, template=Template.objects.get(slug="product-thumbnail"), texts={"overlay": "SALE"}
        )
    job_transition(job, to=JobStatus.PREVIEW_READY)
    return job


@pytest.mark.parametrize("role", ["moderator", "admin"])
def test_final_of_someone_elses_job_is_refused_and_spends_nothing(client, previewed, role):
    actor = UserFactory(role=role)
    held = Reservation.objects.get(ref=str(previewed.public_id)).amount_usd
    client.force_login(actor)

    page = client.get(reverse("renders:job-detail", args=[previewed.public_id])).content.decode()
    response = client.post(reverse("renders:job-final", args=[previewed.public_id]))

    previewed.refresh_from_db()
    assert 'id="request-final"' not in page
    assert 'id="final-owner-only"' in page
    assert response.status_code == 403
    assert f"Only {previewed.submitted_by.username} can request the final" in response.content.decode()
    assert previewed.status == JobStatus.PREVIEW_READY
    assert previewed.attempts.filter(stage="final").count() == 0
    assert Reservation.objects.get(ref=str(previewed.public_id)).amount_usd == held
