"""The OpenAI-compatible facade driven by the official `openai` package, as a client would.

A live server (pytest-django) answers the SDK; real Celery workers render; the OpenAI vendor
is the fake of tests/engines/fakes.py. The SDK keeps its defaults (max_retries=2: it retries
408, 409, 429, >= 500 and dropped connections), so each test also proves what one client call
costs in jobs and vendor calls.
"""

import base64
import io
from decimal import Decimal

import httpx
import openai
import pytest
from django.core.management import call_command
from django.db.models import F
from PIL import Image

from apps.accounts.services import api_token_create
from apps.engines.models import Engine
from apps.policy import services as policy
from apps.policy.models import BudgetLedger, Tier
from apps.renders.models import AttemptStatus, JobStatus, RenderAttempt, RenderJob
from tests.engines import fakes
from tests.engines.conftest import engine_for  # also sets the fake vendor key before workers start

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PROMPT = "a quiet harbour at dawn, wide shot"  # no quoted text: nothing for OCR to check


@pytest.fixture
def sent() -> list[httpx.Request]:
    """Every HTTP request the SDK sent (its own retries included)."""
    return []


@pytest.fixture
def client(live_server, celery_workers, demo, editor, sent):  # type: ignore[no-untyped-def]
    """The official SDK with its default retries, pointed at RenderHub; `sent` records its requests."""
    return openai.OpenAI(
        base_url=f"{live_server.url}/v1",
        api_key=api_token_create(user=editor),
        http_client=httpx.Client(event_hooks={"request": [sent.append]}),
    )


def money_line(name: str, sent: list[httpx.Request]) -> str:
    """What one SDK call cost: HTTP requests, jobs, vendor-billed attempts, ledger; reconciled."""
    call_command("budget", "reconcile")  # raises CommandError on any difference
    charged = RenderAttempt.objects.filter(cost_usd__gt=0)
    spent = sum((row.spent_usd for row in BudgetLedger.objects.all()), Decimal("0"))
    held = sum((row.reserved_usd for row in BudgetLedger.objects.all()), Decimal("0"))
    line = (
        f"{name}: sdk_requests={len(sent)} jobs={RenderJob.objects.count()} charges={charged.count()} "
        f"charged_usd={sum((a.cost_usd for a in charged), Decimal('0'))} ledger_spent_usd={spent} "
        f"ledger_held_usd={held} reconcile=clean"
    )
    print("\n" + line)
    return line


@pytest.fixture
def openai_fake():  # type: ignore[no-untyped-def]
    fake = fakes.OpenAIFake()
    yield fake
    fake.close()


def test_sdk_content_refusal_is_one_job_one_vendor_call_and_a_typed_400(client, openai_fake, sent):
    engine_for("openai", openai_fake.url + "/v1", slug="openai-dalle", model_id="dall-e-3")
    openai_fake.faults = ["refuse", "refuse", "refuse"]

    with pytest.raises(openai.BadRequestError) as raised:
        client.images.generate(model="openai-dalle", prompt=PROMPT)

    assert raised.value.code == "content_policy_violation"
    assert "safety system" in raised.value.message
    assert len(sent) == 1  # a 400 is not retried by the SDK
    assert len(openai_fake.generation_requests()) == 1
    assert RenderJob.objects.count() == 1
    assert RenderJob.objects.get().status == JobStatus.FAILED
    # A refused prompt is not billed: no charge, and the job's hold is released.
    assert "charges=0 charged_usd=0 ledger_spent_usd=0.0000 ledger_held_usd=0.0000" in money_line("refusal", sent)


def test_sdk_budget_refusal_leaves_no_job_and_no_hold(client, sent):
    tier = Tier.objects.get(slug="preview")
    ledger = policy.ledger_for(tier=tier)
    BudgetLedger.objects.filter(pk=ledger.pk).update(spent_usd=F("limit_usd"))

    with pytest.raises(openai.PermissionDeniedError) as raised:
        client.images.generate(model="preview", prompt=PROMPT)

    assert raised.value.code == "insufficient_quota"
    assert "budget" in raised.value.message
    assert len(sent) == 1  # a 403 is not retried by the SDK
    assert RenderJob.objects.count() == 0  # not one deferred job per SDK retry
    assert BudgetLedger.objects.get(pk=ledger.pk).reserved_usd == Decimal("0")
    assert RenderAttempt.objects.count() == 0
    # Only the spend set by hand above (the limit) is on the ledger, and it reconciles: it
    # has no reservation and no attempts, so the check compares nothing with nothing.
    BudgetLedger.objects.filter(pk=ledger.pk).update(spent_usd=0)
    assert "jobs=0 charges=0" in money_line("budget refusal", sent)


def test_sdk_slow_render_is_retried_onto_the_same_job_and_charged_once(client, settings, sent):
    settings.RENDERHUB_OPENAI_WAIT_S = 2.0
    # 15 s at the workers' latency scale of 0.2: about 3 s, longer than one wait.
    Engine.objects.create(
        slug="builtin-slow",
        name="Slow simulation",
        adapter="builtin",
        is_simulation=True,
        price_usd=Decimal("0.04"),
        params={"latency_p50_ms": 15000, "latency_sigma": 0.0, "tail_prob": 0.0, "typo_rate": 0.0},
    )

    raw = client.images.with_raw_response.generate(
        model="builtin-slow", prompt=PROMPT, size="512x512", extra_body={"seed": 7}
    )
    result = raw.parse()

    assert raw.retries_taken >= 1  # the first answer came before the render finished
    assert len(sent) == raw.retries_taken + 1
    assert base64.b64decode(result.data[0].b64_json).startswith(b"\x89PNG")
    job = RenderJob.objects.get()
    charged = RenderAttempt.objects.filter(job=job, cost_usd__gt=0)
    assert charged.count() == 1
    assert job.actual_cost_usd == charged.get().cost_usd == Decimal("0.04")
    assert "jobs=1 charges=1 charged_usd=0.0400 ledger_spent_usd=0.0400" in money_line("slow render", sent)


def test_sdk_lists_models_engines_and_tiers(client):
    ids = [model.id for model in client.models.list()]

    assert {"builtin-turbo", "builtin-ultra", "preview", "production"} <= set(ids)
    assert client.models.retrieve("production").id == "production"


def test_sdk_size_auto_and_jpeg_output(client):
    result = client.images.generate(model="builtin-turbo", prompt=PROMPT, size="auto", output_format="jpeg")

    image_bytes = base64.b64decode(result.data[0].b64_json)
    assert image_bytes.startswith(b"\xff\xd8\xff")
    assert Image.open(io.BytesIO(image_bytes)).size == (1024, 1024)
    assert (result.output_format, result.size) == ("jpeg", "1024x1024")


def test_sdk_n_user_quality_background_and_webp_compression_are_honoured(client, sent):
    result = client.images.generate(
        model="builtin-turbo",
        prompt=PROMPT,
        n=2,
        size="512x512",
        quality="auto",
        background="opaque",
        output_format="webp",
        output_compression=40,
        user="editor-42",
        extra_body={"seed": 11},
    )

    images = [base64.b64decode(item.b64_json) for item in result.data]
    assert len(images) == 2 and images[0] != images[1]  # seeds 11 and 12
    assert all(i[:4] == b"RIFF" and i[8:12] == b"WEBP" for i in images)
    assert [Image.open(io.BytesIO(i)).size for i in images] == [(512, 512), (512, 512)]
    assert (result.output_format, result.size) == ("webp", "512x512")
    assert len(sent) == 1
    assert "jobs=2 charges=2" in money_line("n=2", sent)


def test_sdk_url_response_is_fetched_without_a_header(client):
    result = client.images.generate(model="builtin-turbo", prompt=PROMPT, size="512x512", response_format="url")

    fetched = httpx.get(result.data[0].url)

    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(fetched.content)).size == (512, 512)
    assert httpx.get(result.data[0].url + "x").status_code == 404  # tampered: refused


def test_sdk_errors_raise_typed_exceptions_with_the_message(client, live_server):
    bad_key = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="rh_not-a-token")
    with pytest.raises(openai.AuthenticationError) as raised:
        bad_key.models.list()
    assert raised.value.code == "invalid_api_key"
    assert "unknown or revoked" in raised.value.message

    with pytest.raises(openai.NotFoundError) as raised:
        client.images.generate(model="dall-e-3", prompt=PROMPT)
    assert (raised.value.code, raised.value.param) == ("model_not_found", "model")

    with pytest.raises(openai.BadRequestError) as raised:
        client.images.generate(model="builtin-turbo", prompt=PROMPT, background="transparent")
    assert raised.value.param == "background"

    with pytest.raises(openai.BadRequestError) as raised:
        client.images.generate(model="builtin-turbo", prompt=PROMPT, stream=True)
    assert raised.value.param == "stream"

    with pytest.raises(openai.BadRequestError) as raised:
        client.images.edit(image=("a.png", b"\x89PNG", "image/png"), prompt=PROMPT)
    assert raised.value.code == "unsupported_endpoint"

    with pytest.raises(openai.NotFoundError) as raised:
        client.models.retrieve("gpt-4o")
    assert "gpt-4o" in raised.value.message

    assert RenderJob.objects.count() == 0
    assert not RenderAttempt.objects.exclude(status=AttemptStatus.ERROR).exists()


def test_v1_wrong_method_and_unknown_path_answer_in_openai_shape(client, live_server):
    wrong_method = httpx.get(f"{live_server.url}/v1/images/generations", headers={"Authorization": "Bearer x"})
    unknown = httpx.post(f"{live_server.url}/v1/chat/completions", json={})

    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert unknown.status_code == 404
    assert set(unknown.json()["error"]) == {"message", "type", "param", "code"}
