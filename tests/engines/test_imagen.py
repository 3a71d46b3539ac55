"""Imagen adapter against the Imagen fake, Gemini API and Vertex AI (research/engines.md §2)."""

import time

import pytest

from apps.engines.services import engine_generate
from apps.engines.types import EngineRequest, MisconfiguredError, RefusedError, RetryableError
from tests.engines.conftest import engine_for

MODEL = "imagen-4.0-ultra-generate-001"


def _request(**kw):  # type: ignore[no-untyped-def]
    base = {"prompt": "a harbour at night", "seed": 99, "width": 1344, "height": 768, "negative_prompt": "people"}
    return EngineRequest(**{**base, **kw})


@pytest.fixture
def gemini(db, imagen_fake):  # type: ignore[no-untyped-def]
    return engine_for("imagen", imagen_fake.url, model_id=MODEL)


@pytest.fixture
def vertex(db, imagen_fake):  # type: ignore[no-untyped-def]
    return engine_for(
        "imagen",
        imagen_fake.url + "/v1/projects/p1/locations/us-central1",
        slug="imagen-vertex",
        model_id=MODEL,
        params={"api": "vertex"},
    )


def test_imagen_gemini_sends_api_key_header_and_no_seed(gemini, imagen_fake):
    result = engine_generate(engine=gemini, request=_request())

    (sent,) = imagen_fake.requests
    assert (sent.method, sent.path) == ("POST", f"/v1beta/models/{MODEL}:predict")
    assert sent.headers["x-goog-api-key"] == "fake-key-0123456789"
    assert "authorization" not in sent.headers
    assert sent.json() == {
        "instances": [{"prompt": "a harbour at night"}],
        "parameters": {
            "sampleCount": 1,
            "aspectRatio": "16:9",
            "outputOptions": {"mimeType": "image/png"},
            "includeRaiReason": True,
        },
    }
    assert result.seed_used is None
    assert result.sent["aspect_ratio"] == "16:9"


def test_imagen_vertex_sends_bearer_seed_and_watermark_off(vertex, imagen_fake):
    result = engine_generate(engine=vertex, request=_request(width=512, height=512))

    (sent,) = imagen_fake.requests
    assert sent.path == f"/v1/projects/p1/locations/us-central1/publishers/google/models/{MODEL}:predict"
    assert sent.headers["authorization"] == "Bearer fake-key-0123456789"
    assert "x-goog-api-key" not in sent.headers
    params = sent.json()["parameters"]
    assert params["seed"] == 99
    assert params["addWatermark"] is False
    assert "negativePrompt" not in params  # not documented for Imagen 4
    assert params["aspectRatio"] == "1:1"
    assert result.seed_used == 99


def test_imagen_prompt_blocked_is_refused(gemini, imagen_fake):
    imagen_fake.faults = ["refuse"]

    with pytest.raises(RefusedError, match="Responsible AI"):
        engine_generate(engine=gemini, request=_request())

    assert len(imagen_fake.requests) == 1


def test_imagen_imageless_200_is_refused_with_the_reason(gemini, imagen_fake):
    imagen_fake.faults = ["filtered"]

    with pytest.raises(RefusedError, match="Support codes: 29310472"):
        engine_generate(engine=gemini, request=_request())


def test_imagen_resource_exhausted_is_retried(gemini, imagen_fake):
    imagen_fake.faults = ["429"]

    engine_generate(engine=gemini, request=_request())

    assert len(imagen_fake.requests) == 2


def test_imagen_resource_exhausted_storm_fails_retryable(gemini, imagen_fake):
    imagen_fake.faults = ["429", "429", "429"]

    with pytest.raises(RetryableError, match="RESOURCE_EXHAUSTED"):
        engine_generate(engine=gemini, request=_request())


def test_imagen_retired_model_404_is_misconfigured(gemini, imagen_fake):
    imagen_fake.faults = ["retired"]

    with pytest.raises(MisconfiguredError, match="no longer available"):
        engine_generate(engine=gemini, request=_request())


def test_imagen_vertex_without_base_url_is_misconfigured(db):
    engine = engine_for("imagen", "", slug="v2", model_id=MODEL, params={"api": "vertex"})

    with pytest.raises(MisconfiguredError, match="LOCATION-aiplatform"):
        engine_generate(engine=engine, request=_request())


def test_imagen_4_on_vertex_gets_no_negative_prompt(vertex, imagen_fake):
    engine_generate(engine=vertex, request=_request(negative_prompt="blurry, people"))

    params = imagen_fake.requests[0].json()["parameters"]
    assert "negativePrompt" not in params
    assert params["enhancePrompt"] is False


def test_imagen_3_001_on_vertex_gets_the_negative_prompt_but_no_enhance_prompt(db, imagen_fake):
    engine = engine_for(
        "imagen",
        imagen_fake.url + "/v1/projects/p1/locations/us-central1",
        model_id="imagen-3.0-generate-001",
        params={"api": "vertex"},
    )

    engine_generate(engine=engine, request=_request())

    params = imagen_fake.requests[0].json()["parameters"]
    assert params["negativePrompt"] == "people"
    assert "enhancePrompt" not in params
    assert params["seed"] == 99


def test_imagen_fast_gets_no_sample_image_size(db, imagen_fake):
    engine = engine_for(
        "imagen",
        imagen_fake.url + "/v1/projects/p1/locations/us-central1",
        model_id="imagen-4.0-fast-generate-001",
        params={"api": "vertex", "sampleImageSize": "2K"},
    )

    result = engine_generate(engine=engine, request=_request())

    assert "sampleImageSize" not in imagen_fake.requests[0].json()["parameters"]
    assert result.billing.quality == "1K"


def test_imagen_unknown_model_gets_no_optional_parameter(db, imagen_fake):
    engine = engine_for(
        "imagen",
        imagen_fake.url + "/v1/projects/p1/locations/us-central1",
        model_id="imagen-5.0-generate-001",
        params={"api": "vertex"},
    )

    result = engine_generate(engine=engine, request=_request())

    params = imagen_fake.requests[0].json()["parameters"]
    assert not {"seed", "addWatermark", "negativePrompt", "enhancePrompt"} & set(params)
    assert result.seed_used is None


def test_imagen_vertex_base_url_without_api_param_speaks_vertex(db, imagen_fake, settings):
    engine = engine_for("imagen", imagen_fake.url + "/v1/projects/p1/locations/us-central1", model_id=MODEL, params={})

    result = engine_generate(engine=engine, request=_request())

    assert "/publishers/google/models/" in imagen_fake.requests[0].path
    assert result.sent["api"] == "vertex"


@pytest.mark.parametrize("backend", ["gemini", "vertex"])
def test_imagen_refusal_named_only_in_structured_details_is_refused(request, imagen_fake, backend):
    engine = request.getfixturevalue(backend)
    imagen_fake.faults = ["refuse_structured"]

    with pytest.raises(RefusedError, match="Support codes: 58061214"):
        engine_generate(engine=engine, request=_request())

    assert len(imagen_fake.requests) == 1


def test_imagen_retry_info_in_the_body_is_honoured_like_retry_after(gemini, imagen_fake):
    gemini.max_retries = 0
    imagen_fake.faults = ["429_retry_info"]

    with pytest.raises(RetryableError) as info:
        engine_generate(engine=gemini, request=_request())

    assert info.value.retry_after == 0.4


def test_imagen_retry_info_delay_is_waited_before_the_retry(gemini, imagen_fake):
    imagen_fake.faults = ["429_retry_info"]

    started = time.monotonic()
    result = engine_generate(engine=gemini, request=_request())

    assert time.monotonic() - started >= 0.38
    assert result.sent["retries"] == 1


def test_imagen_bad_key_is_misconfigured_not_refused(gemini, imagen_fake):
    imagen_fake.faults = ["bad_key"]

    with pytest.raises(MisconfiguredError, match="API key not valid"):
        engine_generate(engine=gemini, request=_request())


def test_imagen_billing_records_model_aspect_and_size(vertex, imagen_fake):
    result = engine_generate(engine=vertex, request=_request())

    assert (result.billing.model, result.billing.size, result.billing.quality, result.billing.n) == (
        MODEL,
        "16:9",
        "1K",
        1,
    )
    assert result.billing.pixels == "1408x768"


def test_imagen_key_restriction_blocked_is_misconfigured_not_refused(gemini, imagen_fake):
    imagen_fake.faults = ["key_restricted"]

    with pytest.raises(MisconfiguredError, match="are blocked"):
        engine_generate(engine=gemini, request=_request())
