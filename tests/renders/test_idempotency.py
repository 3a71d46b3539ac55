"""Idempotent creation on every create endpoint, and the OpenAI facade's checks before it
renders anything. No workers: the jobs' engine calls are never enqueued here."""

import json
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from apps.accounts.services import api_token_create
from apps.policy import services as policy
from apps.policy.models import BudgetLedger, Tier, WhenSpent
from apps.renders.idempotency import idempotency_purge
from apps.renders.models import IdempotencyKey, JobStatus, RenderJob
from apps.renders.pipeline.submit import MAX_SEED
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OPENAI = "/v1/images/generations"


@pytest.fixture
def token(demo, editor):  # type: ignore[no-untyped-def]
    return api_token_create(user=editor)


@pytest.fixture(autouse=True)
def no_enqueue(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=False):
        yield


@pytest.fixture(autouse=True)
def short_waits(settings):  # type: ignore[no-untyped-def]
    settings.RENDERHUB_OPENAI_WAIT_S = 0.05


def _post(client, path, body, token, **headers):  # type: ignore[no-untyped-def]
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(path, data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}", **headers)


def test_renders_create_same_key_and_body_answers_the_same_job(client, token):
    first = _post(client, "/api/v1/renders", {"prompt": "a harbour", "seed": 4}, token, HTTP_IDEMPOTENCY_KEY="k-1")
    again = _post(client, "/api/v1/renders", b'{"seed": 4,  "prompt": "a harbour"}', token, HTTP_IDEMPOTENCY_KEY="k-1")

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert RenderJob.objects.count() == 1


def test_the_same_key_from_another_user_is_another_request(client, token):
    other = api_token_create(user=UserFactory(role="editor"))

    _post(client, "/api/v1/renders", {"prompt": "a harbour"}, token, HTTP_IDEMPOTENCY_KEY="shared")
    _post(client, "/api/v1/renders", {"prompt": "a harbour"}, token, HTTP_IDEMPOTENCY_KEY="shared")
    _post(client, "/api/v1/renders", {"prompt": "a harbour"}, other, HTTP_IDEMPOTENCY_KEY="shared")

    assert RenderJob.objects.count() == 2


def test_renders_create_same_key_other_body_is_422(client, token):
    _post(client, "/api/v1/renders", {"prompt": "a harbour"}, token, HTTP_IDEMPOTENCY_KEY="k-2")

    response = _post(client, "/api/v1/renders", {"prompt": "a lighthouse"}, token, HTTP_IDEMPOTENCY_KEY="k-2")

    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"
    assert RenderJob.objects.count() == 1


@pytest.mark.parametrize("path", ["/api/models/render", "/api/models/builtin-turbo"])
def test_model_endpoints_same_key_give_the_same_job(client, token, path):
    body = {"prompt": "a harbour", "seed": 9, "asset_class": "preview"}

    first = _post(client, path, body, token, HTTP_IDEMPOTENCY_KEY="k-3")
    again = _post(client, path, body, token, HTTP_IDEMPOTENCY_KEY="k-3")

    assert first.status_code == again.status_code == 202  # no worker: not done within the budget
    assert again.json()["id"] == first.json()["id"]
    assert RenderJob.objects.count() == 1


def test_openai_same_key_same_job_other_body_422(client, token):
    body = {"model": "builtin-turbo", "prompt": "a harbour", "size": "512x512"}

    first = _post(client, OPENAI, body, token, HTTP_IDEMPOTENCY_KEY="o-1")
    again = _post(client, OPENAI, body, token, HTTP_IDEMPOTENCY_KEY="o-1")
    other = _post(client, OPENAI, {**body, "prompt": "a lighthouse"}, token, HTTP_IDEMPOTENCY_KEY="o-1")

    assert first.status_code == again.status_code == 504
    assert first.json()["error"]["code"] == "render_pending"
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert RenderJob.objects.count() == 1


def test_openai_sdk_retry_without_key_joins_the_first_request_but_a_fresh_call_does_not(client, token):
    body = {"model": "builtin-turbo", "prompt": "a harbour", "size": "512x512"}

    _post(client, OPENAI, body, token, HTTP_X_STAINLESS_RETRY_COUNT="0")
    _post(client, OPENAI, body, token, HTTP_X_STAINLESS_RETRY_COUNT="1")
    _post(client, OPENAI, body, token, HTTP_X_STAINLESS_RETRY_COUNT="2")
    assert RenderJob.objects.count() == 1

    _post(client, OPENAI, body, token, HTTP_X_STAINLESS_RETRY_COUNT="0")  # "regenerate": a new request
    assert RenderJob.objects.count() == 2


def test_a_request_that_fails_validation_leaves_its_key_unused(client, token):
    bad = _post(client, OPENAI, {"model": "builtin-turbo", "prompt": "a", "n": 9}, token, HTTP_IDEMPOTENCY_KEY="v-1")
    good = _post(client, OPENAI, {"model": "builtin-turbo", "prompt": "a"}, token, HTTP_IDEMPOTENCY_KEY="v-1")
    again = _post(client, OPENAI, {"model": "builtin-turbo", "prompt": "a"}, token, HTTP_IDEMPOTENCY_KEY="v-1")

    assert bad.status_code == 400
    assert good.status_code == again.status_code == 504
    assert RenderJob.objects.count() == 1


def test_an_expired_key_starts_afresh_and_is_purged(client, token):
    _post(client, "/api/v1/renders", {"prompt": "a harbour"}, token, HTTP_IDEMPOTENCY_KEY="e-1")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    _post(client, "/api/v1/renders", {"prompt": "a lighthouse"}, token, HTTP_IDEMPOTENCY_KEY="e-1")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert RenderJob.objects.count() == 2
    assert idempotency_purge() == 1
    assert not IdempotencyKey.objects.exists()


def test_openai_budget_refusal_is_remembered_under_its_key(client, token):
    tier = Tier.objects.get(slug="preview")
    BudgetLedger.objects.filter(pk=policy.ledger_for(tier=tier).pk).update(spent_usd=F("limit_usd"))
    body = {"model": "preview", "prompt": "a harbour"}

    first = _post(client, OPENAI, body, token, HTTP_IDEMPOTENCY_KEY="b-1")
    again = _post(client, OPENAI, body, token, HTTP_IDEMPOTENCY_KEY="b-1")

    assert first.status_code == again.status_code == 403
    assert again.json() == first.json()
    assert first["x-should-retry"] == "false"
    assert RenderJob.objects.count() == 0


def test_model_endpoint_budget_refusal_is_not_a_retryable_status(client, token):
    Tier.objects.filter(slug="preview").update(when_spent=WhenSpent.REFUSE)
    tier = Tier.objects.get(slug="preview")
    BudgetLedger.objects.filter(pk=policy.ledger_for(tier=tier).pk).update(spent_usd=F("limit_usd"))

    response = _post(client, "/api/models/render", {"prompt": "a harbour", "tier": "preview"}, token)

    assert response.status_code == 403
    assert "budget" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 4, "seed": MAX_SEED - 1}, "seed"),
        ({"quality": "high"}, "quality"),
        ({"output_format": "gif"}, "output_format"),
        ({"output_compression": 50}, "output_compression"),
        ({"output_format": "jpeg", "output_compression": 101}, "output_compression"),
        ({"background": "transparent"}, "background"),
        ({"style": "vivid"}, "style"),
        ({"stream": True}, "stream"),
        ({"moderation": "low"}, "moderation"),
        ({"user": 5}, "user"),
        ({"colour": "red"}, "colour"),
        ({"prompt": "a\x00b"}, "prompt"),
        ({"prompt": "a\ud800b"}, "prompt"),
        ({"prompt": "x" * 32001}, "prompt"),
    ],
)
def test_openai_checks_everything_before_rendering(client, token, body, param):
    response = _post(client, OPENAI, {"model": "builtin-turbo", "prompt": "a harbour", **body}, token)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param
    assert RenderJob.objects.count() == 0


def test_openai_unparseable_bodies_are_400_in_openai_shape(client, token):
    for raw in (b"{not json", b"[" * 100_000, b'{"n": ' + b"9" * 5000 + b"}"):
        response = _post(client, OPENAI, raw, token)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_json"


def test_openai_busy_queue_is_429_with_retry_after_and_leaves_no_job(client, token, editor):
    from apps.renders.models import AttemptStatus, RenderAttempt
    from apps.renders.pipeline.submit import job_submit

    tier = Tier.objects.get(slug="preview")
    for _ in range(25):  # queued finals (never enqueued here), 5 of them just finished: 20 waiting at 5/s
        job_submit(submitted_by=editor, prompt="a harbour", tier=tier, with_preview=False)
    finished = RenderAttempt.objects.values_list("pk", flat=True)[:5]
    RenderAttempt.objects.filter(pk__in=list(finished)).update(status=AttemptStatus.PASSED, finished_at=timezone.now())
    before = RenderJob.objects.count()

    response = _post(client, OPENAI, {"model": "preview", "prompt": "a lighthouse"}, token)

    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(response["Retry-After"]) >= 1
    assert RenderJob.objects.count() == before
    assert not RenderJob.objects.filter(status=JobStatus.DEFERRED).exists()


def test_openai_retired_engine_is_not_listed_and_is_model_not_found(client, token):
    from apps.engines.models import Engine

    Engine.objects.filter(slug="builtin-ultra").update(retired_on=timezone.localdate() - timedelta(days=1))

    listed = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    response = _post(client, OPENAI, {"model": "builtin-ultra", "prompt": "a harbour"}, token)

    assert "builtin-ultra" not in [m["id"] for m in listed["data"]]
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    assert RenderJob.objects.count() == 0
