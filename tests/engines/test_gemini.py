"""Gemini image adapter (`:generateContent`, Gemini 3.1 Flash Image) against the Gemini fake."""

import pytest

from apps.engines.services import engine_generate
from apps.engines.types import EngineRequest, MisconfiguredError, RefusedError, RetryableError, TokenUsage
from tests.engines.conftest import engine_for

MODEL = "gemini-3.1-flash-image"


def _request(**kw):  # type: ignore[no-untyped-def]
    base = {"prompt": "a harbour at night", "seed": 99, "width": 1344, "height": 768, "negative_prompt": "people"}
    return EngineRequest(**{**base, **kw})


@pytest.fixture
def gemini(db, gemini_fake):  # type: ignore[no-untyped-def]
    return engine_for("gemini", gemini_fake.url, model_id=MODEL)


def test_gemini_sends_generate_content_with_image_config_and_api_key(gemini, gemini_fake):
    result = engine_generate(engine=gemini, request=_request())

    (sent,) = gemini_fake.requests
    assert (sent.method, sent.path) == ("POST", f"/v1beta/models/{MODEL}:generateContent")
    assert sent.headers["x-goog-api-key"] == "fake-key-0123456789"
    assert sent.json() == {
        "contents": [{"role": "user", "parts": [{"text": "a harbour at night"}]}],
        "generationConfig": {
            "responseModalities": ["IMAGE"],
            "imageConfig": {"aspectRatio": "16:9", "imageSize": "1K"},
        },
    }
    assert result.seed_used is None
    assert (result.width, result.height) == (1344, 768)
    assert result.billing.pixels == "1376x768"


def test_gemini_billing_carries_usage_metadata(gemini, gemini_fake):
    result = engine_generate(engine=gemini, request=_request(width=1024, height=1024))

    assert (result.billing.model, result.billing.size, result.billing.quality) == (MODEL, "1:1", "1K")
    assert result.billing.usage == TokenUsage(
        input_tokens=12, input_text_tokens=12, output_tokens=1120, output_image_tokens=1120, total_tokens=1132
    )
    assert result.billing.usage_raw["candidatesTokenCount"] == 1120


def test_gemini_image_size_param_is_sent(db, gemini_fake):
    engine = engine_for("gemini", gemini_fake.url, model_id=MODEL, params={"imageSize": "2K"})

    result = engine_generate(engine=engine, request=_request(width=512, height=512))

    assert gemini_fake.requests[0].json()["generationConfig"]["imageConfig"]["imageSize"] == "2K"
    assert (result.billing.quality, result.billing.usage.output_tokens) == ("2K", 1680)


def test_gemini_prompt_block_reason_is_refused(gemini, gemini_fake):
    gemini_fake.faults = ["refuse"]

    with pytest.raises(RefusedError, match="PROHIBITED_CONTENT"):
        engine_generate(engine=gemini, request=_request())

    assert len(gemini_fake.requests) == 1


def test_gemini_image_safety_finish_reason_is_refused(gemini, gemini_fake):
    gemini_fake.faults = ["image_safety"]

    with pytest.raises(RefusedError, match="IMAGE_SAFETY"):
        engine_generate(engine=gemini, request=_request())


def test_gemini_text_only_answer_is_refused_with_the_models_words(gemini, gemini_fake):
    gemini_fake.faults = ["text_only"]

    with pytest.raises(RefusedError, match="can't create that image"):
        engine_generate(engine=gemini, request=_request())


def test_gemini_structured_refusal_error_is_refused(gemini, gemini_fake):
    gemini_fake.faults = ["refuse_structured"]

    with pytest.raises(RefusedError):
        engine_generate(engine=gemini, request=_request())


def test_gemini_retired_model_is_misconfigured(gemini, gemini_fake):
    gemini_fake.faults = ["retired"]

    with pytest.raises(MisconfiguredError, match="is not found"):
        engine_generate(engine=gemini, request=_request())


def test_gemini_retry_info_is_the_retry_hint(gemini, gemini_fake):
    gemini.max_retries = 0
    gemini_fake.faults = ["429_retry_info"]

    with pytest.raises(RetryableError) as info:
        engine_generate(engine=gemini, request=_request())

    assert info.value.retry_after == 0.4


def test_gemini_unknown_image_size_is_misconfigured_without_a_request(db, gemini_fake):
    engine = engine_for("gemini", gemini_fake.url, model_id=MODEL, params={"imageSize": "8K"})

    with pytest.raises(MisconfiguredError, match="imageSize"):
        engine_generate(engine=engine, request=_request())

    assert gemini_fake.requests == []


def test_gemini_key_restriction_blocked_is_misconfigured_not_refused(gemini, gemini_fake):
    gemini_fake.faults = ["key_restricted"]

    with pytest.raises(MisconfiguredError, match="are blocked"):
        engine_generate(engine=gemini, request=_request())
