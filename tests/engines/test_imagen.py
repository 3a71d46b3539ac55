"""Imagen adapter against the Imagen fake, Gemini API and Vertex AI (research/engines.md §2)."""

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
    assert params["negativePrompt"] == "people"
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
