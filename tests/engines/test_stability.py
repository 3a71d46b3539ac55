"""Stability adapter against the Stability fake (research/engines.md §3)."""

import io

import pytest
from PIL import Image

from apps.engines.services import engine_generate
from apps.engines.types import BadResponseError, EngineRequest, MisconfiguredError, RefusedError
from tests.engines.conftest import engine_for


def _request(**kw):  # type: ignore[no-untyped-def]
    base = {"prompt": "a poster of a fox", "seed": 31337, "width": 768, "height": 512, "negative_prompt": "text"}
    return EngineRequest(**{**base, **kw})


@pytest.fixture
def turbo(db, stability_fake):  # type: ignore[no-untyped-def]
    return engine_for("stability", stability_fake.url, model_id="sd3.5-large-turbo")


def test_stability_sends_multipart_not_urlencoded(turbo, stability_fake):
    result = engine_generate(engine=turbo, request=_request())

    (sent,) = stability_fake.requests
    assert (sent.method, sent.path) == ("POST", "/v2beta/stable-image/generate/sd3")
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert sent.headers["authorization"] == "Bearer fake-key-0123456789"
    assert sent.headers["accept"] == "image/*"
    assert sent.form() == {
        "prompt": "a poster of a fox",
        "model": "sd3.5-large-turbo",
        "mode": "text-to-image",
        "aspect_ratio": "3:2",
        "output_format": "png",
        "seed": "31337",
    }
    assert b'filename="' not in sent.body  # plain fields, no file parts
    assert result.seed_used == 31337
    assert result.sent["aspect_ratio"] == "3:2"
    assert result.sent["finish_reason"] == "SUCCESS"
    assert Image.open(io.BytesIO(result.image)).size == (768, 512)


def test_stability_large_sends_negative_prompt(db, stability_fake):
    engine = engine_for("stability", stability_fake.url, slug="sd-large", model_id="sd3.5-large")

    engine_generate(engine=engine, request=_request())

    assert stability_fake.requests[0].form()["negative_prompt"] == "text"


def test_stability_reads_the_json_answer_too(turbo, stability_fake):
    turbo.params = {**turbo.params, "accept": "json"}

    result = engine_generate(engine=turbo, request=_request())

    assert stability_fake.requests[0].headers["accept"] == "application/json"
    assert result.seed_used == 31337
    assert result.sent["finish_reason"] == "SUCCESS"


def test_stability_content_filtered_200_is_refused(turbo, stability_fake):
    stability_fake.faults = ["filtered"]

    with pytest.raises(RefusedError, match="CONTENT_FILTERED"):
        engine_generate(engine=turbo, request=_request())

    assert len(stability_fake.requests) == 1


def test_stability_content_moderation_403_is_refused(turbo, stability_fake):
    stability_fake.faults = ["refuse"]

    with pytest.raises(RefusedError, match="content moderation"):
        engine_generate(engine=turbo, request=_request())


def test_stability_payment_required_is_misconfigured(turbo, stability_fake):
    stability_fake.faults = ["402"]

    with pytest.raises(MisconfiguredError, match="no credits"):
        engine_generate(engine=turbo, request=_request())


def test_stability_429_is_retried(turbo, stability_fake):
    stability_fake.faults = ["429"]

    engine_generate(engine=turbo, request=_request())

    assert len(stability_fake.requests) == 2


def test_stability_retired_model_is_misconfigured(turbo, stability_fake):
    stability_fake.faults = ["retired"]

    with pytest.raises(MisconfiguredError, match="retired or unknown"):
        engine_generate(engine=turbo, request=_request())


def test_stability_wrong_model_id_is_rejected_by_the_vendor(db, stability_fake):
    engine = engine_for("stability", stability_fake.url, slug="bad", model_id="sd3.5_turbo")

    with pytest.raises(MisconfiguredError, match="model: must be one of"):
        engine_generate(engine=engine, request=_request())


def test_stability_non_image_body_is_a_bad_response(turbo, stability_fake):
    stability_fake.faults = ["not_image"]

    with pytest.raises(BadResponseError, match="not a PNG"):
        engine_generate(engine=turbo, request=_request())


def test_stability_gzip_bomb_is_a_bad_response(turbo, stability_fake):
    turbo.params = {**turbo.params, "max_body_bytes": 2_000_000}
    stability_fake.faults = ["gzip_bomb"]

    with pytest.raises(BadResponseError, match="cap"):
        engine_generate(engine=turbo, request=_request())
