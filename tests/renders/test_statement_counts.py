"""Upper bounds on SQL statements: one API submission, and one attempt's engine call through
to the job's next state (issue 13: 49 and 19 on the code before it, then 19 and 12/14, then
10 and 10/14, then 9 (8 to an idle queue) and 8/11; the floor 7 for a whole job).

Counted with pytest-django's `django_assert_max_num_queries` on a tier with the null engine,
verification and hedging off, after a first submission has filled the per-process caches."""

import json

import pytest
from django.utils import timezone

from apps.accounts.services import api_token_create
from apps.engines.models import AdapterKind, Engine
from apps.policy.models import AssetClass, Tier
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob
from apps.renders.pipeline import enqueue
from apps.renders.pipeline.run import attempt_run

# BEGIN, queue depths, the queue's rate (only while attempts wait: here the earlier submissions'),
# ledger, hold with its reservation, job, its events, its attempts, COMMIT
SUBMISSION_MAX = 9
SUBMISSION_IDLE_MAX = 8  # the same to a queue nobody waits on: no rate read
# Claim-and-read, BEGIN, engine call, store, job re-read, job update, its events, COMMIT.
PREVIEW_ATTEMPT_MAX = 8  # the preview, its job on to RENDERING beside the final
FINAL_ATTEMPT_MAX = 11  # the final, its job delivered (its attempts read, settled, outcome recorded)


@pytest.fixture
def null_tier(db):  # type: ignore[no-untyped-def]
    engine = Engine.objects.create(slug="null", name="Null", adapter=AdapterKind.NULL)
    tier = Tier.objects.create(
        slug="bench",
        name="Bench",
        preview_engine=engine,
        final_engine=engine,
        auto_final=True,
        final_with_preview=True,
        verify_ocr=False,
        hedge_previews=False,
    )
    AssetClass.objects.create(slug="bench", name="Bench", tier=tier)
    return tier


@pytest.fixture
def sent(monkeypatch):  # type: ignore[no-untyped-def]
    """Tasks the pipeline sends, captured instead of going to the broker."""
    captured: list[tuple[str, dict[str, int]]] = []
    monkeypatch.setattr(
        enqueue, "_send", lambda task, *, kwargs, queue, countdown=None: captured.append((task, kwargs))
    )
    return captured


def _submit(client, token: str, seed: int):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/renders",
        data=json.dumps({"prompt": 'A poster with the words "Harbour Lights"', "asset_class": "bench", "seed": seed}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def _warm_token(client, editor, capture) -> str:  # type: ignore[no-untyped-def]
    """An API token after two submissions: the per-process caches and the token's last use
    (written once a minute) are filled, so the next submission counts only its own work."""
    token = api_token_create(user=editor)
    for seed in (1, 2):
        with capture(execute=True):
            assert _submit(client, token, seed).status_code == 202
    return token


def test_api_submission_statements_stay_under_the_bound(
    client, editor, null_tier, sent, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    token = _warm_token(client, editor, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True), django_assert_max_num_queries(SUBMISSION_MAX):
        response = _submit(client, token, 3)

    assert response.status_code == 202
    job = RenderJob.objects.get(public_id=response.json()["id"])
    assert [(a.stage, a.status) for a in job.attempts.all()] == [("preview", "queued"), ("final", "queued")]


def test_api_submission_to_an_idle_queue_statements_stay_under_the_bound(
    client, editor, null_tier, sent, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    token = _warm_token(client, editor, django_capture_on_commit_callbacks)
    RenderAttempt.objects.update(status=AttemptStatus.PASSED, finished_at=timezone.now())  # their workers ran them

    with django_capture_on_commit_callbacks(execute=True), django_assert_max_num_queries(SUBMISSION_IDLE_MAX):
        response = _submit(client, token, 3)

    assert response.status_code == 202


def test_one_attempt_statements_stay_under_the_bound(
    client, editor, null_tier, sent, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    token = api_token_create(user=editor)
    with django_capture_on_commit_callbacks(execute=True):
        job_id = _submit(client, token, 4).json()["id"]
    preview, final = RenderAttempt.objects.filter(job__public_id=job_id).order_by("number")

    with django_capture_on_commit_callbacks(execute=True), django_assert_max_num_queries(PREVIEW_ATTEMPT_MAX):
        attempt_run(attempt_id=preview.pk)
    with django_capture_on_commit_callbacks(execute=True), django_assert_max_num_queries(FINAL_ATTEMPT_MAX):
        attempt_run(attempt_id=final.pk)

    job = RenderJob.objects.get(public_id=job_id)
    assert job.status == JobStatus.DELIVERED
    assert list(job.attempts.values_list("status", "price_source")) == [
        (AttemptStatus.PASSED, "benchmark"),
        (AttemptStatus.PASSED, "benchmark"),
    ]
    assert list(job.events.values_list("to_status", flat=True)) == [
        "queued",
        "previewing",
        "preview_ready",
        "rendering",
        "delivered",
    ]
