"""OpenAI adapter against the OpenAI fake (research/engines.md §1)."""

import io
from decimal import Decimal

import pytest
from PIL import Image

from apps.engines.services import engine_generate
from apps.engines.types import BadResponseError, EngineRequest, MisconfiguredError, RefusedError, RetryableError
from tests.engines.conftest import engine_for


def _request(**kw):  # type: ignore[no-untyped-def]
    base = {"prompt": "a red bicycle", "seed": 7, "width": 768, "height": 512}
    return EngineRequest(**{**base, **kw})


@pytest.fixture
def dalle(db, openai_fake):  # type: ignore[no-untyped-def]
    return engine_for("openai", openai_fake.url + "/v1", model_id="dall-e-3", params={"style": "natural"})


@pytest.fixture
def gpt_image(db, openai_fake):  # type: ignore[no-untyped-def]
    return engine_for(
        "openai",
        openai_fake.url + "/v1",
        slug="gpt-image-fake",
        model_id="gpt-image-1",
        price_table={"1536x1024": {"low": "0.016", "medium": "0.063", "high": "0.25"}},
        params={"usd_per_1m_image_output_tokens": 40, "usd_per_1m_text_input_tokens": 5},
    )


def test_openai_dalle_sends_exact_request(dalle, openai_fake):
    result = engine_generate(engine=dalle, request=_request(extra={"quality": "hd"}))

    (sent,) = openai_fake.requests
    assert (sent.method, sent.path) == ("POST", "/v1/images/generations")
    assert sent.headers["authorization"] == "Bearer fake-key-0123456789"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == {
        "model": "dall-e-3",
        "prompt": "a red bicycle",
        "n": 1,
        "size": "1792x1024",
        "quality": "hd",
        "response_format": "b64_json",
        "style": "natural",
    }
    assert result.seed_used is None
    assert result.sent["size"] == "1792x1024"
    assert result.sent["asked"] == "768x512"
    assert result.sent["fitted"] is True
    assert result.sent["revised_prompt"].startswith("A revised")
    assert Image.open(io.BytesIO(result.image)).size == (768, 512)
    assert result.vendor_request_id.startswith("req_")


def test_openai_dalle_portrait_canvas_maps_to_portrait_size(dalle, openai_fake):
    engine_generate(engine=dalle, request=_request(width=512, height=900))

    assert openai_fake.requests[0].json()["size"] == "1024x1792"


def test_openai_gpt_image_sends_quality_and_output_format_without_response_format(gpt_image, openai_fake):
    engine_generate(engine=gpt_image, request=_request(extra={"quality": "medium"}))

    body = openai_fake.requests[0].json()
    assert body == {
        "model": "gpt-image-1",
        "prompt": "a red bicycle",
        "n": 1,
        "size": "1536x1024",
        "quality": "medium",
        "output_format": "png",
    }


def test_openai_gpt_image_bills_from_usage(gpt_image):
    result = engine_generate(engine=gpt_image, request=_request(extra={"quality": "medium"}))

    # 1056 output tokens × $40/1M + 44 input × $5/1M = $0.04246; table price $0.063
    assert result.sent["usage_cost_usd"] == "0.042460"
    assert Decimal(str(result.billed_units)).quantize(Decimal("0.0001")) == Decimal("0.6740")


def test_openai_unknown_quality_falls_back_to_model_default(dalle, openai_fake):
    engine_generate(engine=dalle, request=_request(extra={"quality": "high"}))

    assert openai_fake.requests[0].json()["quality"] == "standard"


def test_openai_content_policy_violation_is_refused(dalle, openai_fake):
    openai_fake.faults = ["refuse"]

    with pytest.raises(RefusedError, match="safety system"):
        engine_generate(engine=dalle, request=_request())

    assert len(openai_fake.requests) == 1


def test_openai_moderation_blocked_is_refused(gpt_image, openai_fake):
    openai_fake.faults = ["refuse"]

    with pytest.raises(RefusedError, match="safety_violations"):
        engine_generate(engine=gpt_image, request=_request())


def test_openai_retired_model_is_misconfigured(dalle, openai_fake):
    openai_fake.faults = ["retired"]

    with pytest.raises(MisconfiguredError, match="retired or unknown"):
        engine_generate(engine=dalle, request=_request())

    assert len(openai_fake.requests) == 1


def test_openai_json_429_is_retried(dalle, openai_fake):
    openai_fake.faults = ["429_json"]

    result = engine_generate(engine=dalle, request=_request())

    assert len(openai_fake.requests) == 2
    assert result.sent["retries"] == 1


def test_openai_plain_text_429_is_tolerated(dalle, openai_fake):
    openai_fake.faults = ["429_plain"]

    with pytest.raises(RetryableError, match="error code: 1015"):
        engine_generate(engine=dalle, request=_request())


def test_openai_malformed_json_is_a_bad_response(dalle, openai_fake):
    openai_fake.faults = ["malformed"]

    with pytest.raises(BadResponseError, match="malformed JSON"):
        engine_generate(engine=dalle, request=_request())


def test_openai_empty_data_is_a_bad_response(dalle, openai_fake):
    openai_fake.faults = ["empty_data"]

    with pytest.raises(BadResponseError, match="no image data"):
        engine_generate(engine=dalle, request=_request())


def test_openai_non_image_b64_is_a_bad_response(dalle, openai_fake):
    openai_fake.faults = ["not_image"]

    with pytest.raises(BadResponseError, match="not a PNG"):
        engine_generate(engine=dalle, request=_request())


def test_openai_missing_key_is_misconfigured_without_a_request(dalle, openai_fake, monkeypatch):
    monkeypatch.delenv("RENDERHUB_FAKE_VENDOR_KEY")

    with pytest.raises(MisconfiguredError, match="RENDERHUB_FAKE_VENDOR_KEY"):
        engine_generate(engine=dalle, request=_request())

    assert openai_fake.requests == []


def test_openai_url_answer_is_downloaded_without_the_key(dalle, openai_fake):
    openai_fake.force_url = True

    result = engine_generate(engine=dalle, request=_request())

    _post, get = openai_fake.requests
    assert (get.method, get.path.startswith("/files/")) == ("GET", True)
    assert "authorization" not in get.headers
    assert Image.open(io.BytesIO(result.image)).size == (768, 512)


@pytest.mark.parametrize(
    ("canvas", "sent"),
    [
        ((768, 512), "768x512"),
        ((770, 514), "768x512"),
        ((2000, 300), "896x304"),
        ((64, 640), "64x192"),
        ((600, 200), "576x192"),
    ],
)
def test_openai_gpt_image_2_sends_a_free_size_divisible_by_16(db, openai_fake, canvas, sent):
    engine = engine_for("openai", openai_fake.url + "/v1", slug="gpt2", model_id="gpt-image-2")

    result = engine_generate(engine=engine, request=_request(width=canvas[0], height=canvas[1]))

    assert openai_fake.requests[0].json()["size"] == sent
    assert Image.open(io.BytesIO(result.image)).size == canvas


def test_openai_moderation_named_by_type_and_details_is_refused(gpt_image, openai_fake):
    openai_fake.faults = ["refuse_typed"]

    with pytest.raises(RefusedError, match="Request blocked"):
        engine_generate(engine=gpt_image, request=_request())

    assert len(openai_fake.requests) == 1


def test_openai_billing_records_model_size_quality_and_usage(gpt_image, openai_fake):
    result = engine_generate(engine=gpt_image, request=_request())

    sent = openai_fake.requests[0].json()
    assert (result.billing.model, result.billing.size, result.billing.quality, result.billing.n) == (
        sent["model"],
        sent["size"],
        sent["quality"],
        1,
    )
    assert result.billing.usage is not None
    assert (result.billing.usage.output_tokens, result.billing.usage.input_text_tokens) == (1056, 44)
