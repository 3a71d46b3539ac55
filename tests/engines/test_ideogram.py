"""Ideogram adapter against the Ideogram fake: legacy JSON and V3 multipart (research §4)."""

import pytest

from apps.engines.services import engine_generate
from apps.engines.types import BadResponseError, EngineRequest, MisconfiguredError, RefusedError, RetryableError
from tests.engines.conftest import engine_for


def _request(**kw):  # type: ignore[no-untyped-def]
    base = {"prompt": 'a shop sign reading "OPEN"', "seed": 4242, "width": 1344, "height": 768}
    return EngineRequest(**{**base, **kw})


@pytest.fixture
def legacy(db, ideogram_fake):  # type: ignore[no-untyped-def]
    return engine_for(
        "ideogram", ideogram_fake.url, model_id="V_2_TURBO", params={"style_type": "DESIGN", "download_hosts": []}
    )


@pytest.fixture
def v3(db, ideogram_fake):  # type: ignore[no-untyped-def]
    return engine_for(
        "ideogram", ideogram_fake.url, slug="ideo-v3", model_id="V_3", params={"rendering_speed": "TURBO"}
    )


def test_ideogram_legacy_sends_image_request_json_with_api_key(legacy, ideogram_fake):
    result = engine_generate(engine=legacy, request=_request(negative_prompt="blur"))

    generate, download = ideogram_fake.requests
    assert (generate.method, generate.path) == ("POST", "/generate")
    assert generate.headers["api-key"] == "fake-key-0123456789"
    assert "authorization" not in generate.headers
    assert generate.json() == {
        "image_request": {
            "prompt": 'a shop sign reading "OPEN"',
            "model": "V_2_TURBO",
            "aspect_ratio": "ASPECT_16_9",
            "magic_prompt_option": "OFF",
            "num_images": 1,
            "seed": 4242,
            "negative_prompt": "blur",
            "style_type": "DESIGN",
        }
    }
    assert download.method == "GET"
    assert download.path.startswith("/api/images/ephemeral/")
    assert download.query["sig"] == ["abc"]
    assert "api-key" not in download.headers  # the signed URL needs no key; never leak it
    assert result.seed_used == 4242
    assert result.sent["aspect_ratio"] == "ASPECT_16_9"
    assert result.sent["resolution"] == "1312x736"


def test_ideogram_v3_sends_multipart_with_magic_prompt_and_no_model(v3, ideogram_fake):
    result = engine_generate(engine=v3, request=_request(width=512, height=1024))

    sent = ideogram_fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/ideogram-v3/generate")
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert sent.form() == {
        "prompt": 'a shop sign reading "OPEN"',
        "aspect_ratio": "1x2",
        "rendering_speed": "TURBO",
        "magic_prompt": "OFF",
        "num_images": "1",
        "seed": "4242",
    }
    assert result.seed_used == 4242


def test_ideogram_unsafe_image_is_refused(legacy, ideogram_fake):
    ideogram_fake.faults = ["unsafe"]

    with pytest.raises(RefusedError, match="is_image_safe"):
        engine_generate(engine=legacy, request=_request())

    assert len(ideogram_fake.requests) == 1  # nothing to download


def test_ideogram_safety_422_is_refused(legacy, ideogram_fake):
    ideogram_fake.faults = ["refuse"]

    with pytest.raises(RefusedError, match="failed the safety checks"):
        engine_generate(engine=legacy, request=_request())


def test_ideogram_inflight_limit_429_is_retried(legacy, ideogram_fake):
    ideogram_fake.faults = ["429"]

    engine_generate(engine=legacy, request=_request())

    assert [r.method for r in ideogram_fake.requests] == ["POST", "POST", "GET"]


def test_ideogram_inflight_storm_names_the_reason(legacy, ideogram_fake):
    ideogram_fake.faults = ["429", "429", "429"]

    with pytest.raises(RetryableError, match="inflight_limit"):
        engine_generate(engine=legacy, request=_request())


def test_ideogram_insufficient_funds_is_misconfigured(legacy, ideogram_fake):
    ideogram_fake.faults = ["402"]

    with pytest.raises(MisconfiguredError, match="insufficient_funds"):
        engine_generate(engine=legacy, request=_request())


def test_ideogram_download_host_outside_allowlist_is_refused(legacy, ideogram_fake, settings):
    settings.RENDERHUB_ENGINE_HOST_ALLOWLIST = ["localhost"]
    legacy.base_url = ideogram_fake.url.replace("127.0.0.1", "localhost")

    with pytest.raises(MisconfiguredError, match=r"Refusing to call http://127\.0\.0\.1"):
        engine_generate(engine=legacy, request=_request())

    assert [r.method for r in ideogram_fake.requests] == ["POST"]


def test_ideogram_expired_result_url_is_a_bad_response(legacy, ideogram_fake):
    ideogram_fake.expire_urls = True

    with pytest.raises(BadResponseError, match="may have expired"):
        engine_generate(engine=legacy, request=_request())


@pytest.fixture
def v4(db, ideogram_fake):  # type: ignore[no-untyped-def]
    return engine_for("ideogram", ideogram_fake.url, model_id="V_4", params={"rendering_speed": "TURBO"})


def test_ideogram_v4_sends_multipart_text_prompt_resolution_and_speed_only(v4, ideogram_fake):
    result = engine_generate(engine=v4, request=_request(width=1920, height=1080))

    post = ideogram_fake.generation_requests()[0]
    assert (post.path, post.headers["api-key"]) == ("/v1/ideogram-v4/generate", "fake-key-0123456789")
    assert post.form() == {
        "text_prompt": 'a shop sign reading "OPEN"',
        "resolution": "2560x1440",
        "rendering_speed": "TURBO",
    }
    assert result.seed_used is None
    assert (result.billing.model, result.billing.size, result.billing.quality) == ("V_4", "2560x1440", "TURBO")


def test_ideogram_v4_unknown_speed_is_misconfigured_without_a_request(db, ideogram_fake):
    engine = engine_for("ideogram", ideogram_fake.url, model_id="V_4", params={"rendering_speed": "FLASH"})

    with pytest.raises(MisconfiguredError, match="rendering_speed"):
        engine_generate(engine=engine, request=_request())

    assert ideogram_fake.generation_requests() == []


def test_ideogram_v3_billing_records_the_rendering_speed(v3, ideogram_fake):
    result = engine_generate(engine=v3, request=_request())

    assert (result.billing.model, result.billing.size, result.billing.quality) == ("V_3", "16x9", "TURBO")
