"""The generic protocol adapter against its fake, and the transport's faults through it."""

import io
import time

import pytest
from PIL import Image

from apps.engines.models import EngineCall
from apps.engines.services import engine_generate
from apps.engines.types import BadResponseError, EngineRequest, MisconfiguredError, RefusedError, RetryableError
from tests.engines.conftest import engine_for


def _request(**kw):  # type: ignore[no-untyped-def]
    base = {"prompt": "a lighthouse at dusk", "seed": 42, "width": 768, "height": 512}
    return EngineRequest(**{**base, **kw})


@pytest.fixture
def engine(db, generic_fake):  # type: ignore[no-untyped-def]
    return engine_for("http", generic_fake.url + "/generate", api_key_env="")


def test_http_sends_the_generic_protocol_exactly(engine, generic_fake):
    result = engine_generate(engine=engine, request=_request(negative_prompt="blurry", guidance=1))

    (sent,) = generic_fake.requests
    assert sent.method == "POST"
    assert sent.path == "/generate"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == {
        "prompt": "a lighthouse at dusk",
        "seed": 42,
        "size": "768x512",
        "negative_prompt": "blurry",
        "guidance": 1,
    }
    assert "authorization" not in sent.headers
    assert result.seed_used == 42
    assert result.vendor_request_id.startswith("gen-")
    assert Image.open(io.BytesIO(result.image)).size == (768, 512)
    assert result.sent["size"] == "768x512"
    assert result.sent["asked"] == "768x512"
    assert set(result.timings_ms) >= {"connect", "first_byte", "download", "total"}


def test_http_sends_bearer_key_when_engine_names_one(engine, generic_fake):
    engine.api_key_env = "RENDERHUB_FAKE_VENDOR_KEY"

    engine_generate(engine=engine, request=_request())

    assert generic_fake.requests[0].headers["authorization"] == "Bearer fake-key-0123456789"


def test_http_records_a_call_for_health(engine):
    engine_generate(engine=engine, request=_request())

    call = EngineCall.objects.get(engine=engine)
    assert call.ok is True
    assert call.latency_ms > 0


def test_http_refusal_422_is_refused_and_not_retried(engine, generic_fake):
    generic_fake.faults = ["refuse"]

    with pytest.raises(RefusedError, match="prompt refused by policy"):
        engine_generate(engine=engine, request=_request())

    assert len(generic_fake.requests) == 1
    assert EngineCall.objects.get(engine=engine).error_kind == "refused"


def test_http_retries_5xx_storm_then_succeeds(engine, generic_fake):
    generic_fake.faults = ["503", "502"]

    result = engine_generate(engine=engine, request=_request())

    assert len(generic_fake.requests) == 3
    assert result.sent["retries"] == 2


def test_http_5xx_storm_longer_than_retries_fails_retryable(engine, generic_fake):
    generic_fake.faults = ["500", "500", "500", "500"]

    with pytest.raises(RetryableError):
        engine_generate(engine=engine, request=_request())

    assert len(generic_fake.requests) == 3  # 1 + max_retries


def test_http_honours_retry_after_seconds(engine, generic_fake):
    generic_fake.faults = ["429_retry_after"]

    started = time.monotonic()
    engine_generate(engine=engine, request=_request())

    assert time.monotonic() - started >= 0.95
    assert len(generic_fake.requests) == 2


def test_http_honours_retry_after_ms(engine, generic_fake):
    generic_fake.faults = ["429_retry_after_ms"]

    started = time.monotonic()
    engine_generate(engine=engine, request=_request())

    elapsed = time.monotonic() - started
    assert 0.28 <= elapsed < 0.95
    assert len(generic_fake.requests) == 2


def test_http_plain_text_429_with_huge_retry_after_is_not_waited_for(engine, generic_fake):
    generic_fake.faults = ["429_plain"]

    started = time.monotonic()
    with pytest.raises(RetryableError, match="error code: 1015") as info:
        engine_generate(engine=engine, request=_request())

    assert time.monotonic() - started < 1
    assert info.value.retry_after == 54749
    assert len(generic_fake.requests) == 1


def test_http_drip_is_cut_at_the_deadline(engine, generic_fake):
    engine.deadline_s = 1.0
    engine.max_retries = 0
    generic_fake.faults = ["drip"]

    started = time.monotonic()
    with pytest.raises(RetryableError, match="deadline"):
        engine_generate(engine=engine, request=_request())

    assert time.monotonic() - started < 2.0


def test_http_send_then_stall_is_cut_at_the_deadline_not_the_read_timeout(engine, generic_fake):
    engine.deadline_s = 1.0
    engine.read_timeout_s = 3.0
    engine.max_retries = 0
    generic_fake.faults = ["drip_then_stall"]

    started = time.monotonic()
    with pytest.raises(RetryableError, match="deadline"):
        engine_generate(engine=engine, request=_request())

    # Without the watchdog the read timeout (capped at 1 s when the request began) would
    # only fire ~0.6 + 1.0 s in.
    assert time.monotonic() - started < 1.35


def test_http_slow_headers_hit_the_read_timeout(engine, generic_fake):
    engine.read_timeout_s = 0.5
    engine.max_retries = 0
    generic_fake.faults = ["slow_headers"]

    started = time.monotonic()
    with pytest.raises(RetryableError, match="timed out"):
        engine_generate(engine=engine, request=_request())

    assert time.monotonic() - started < 1.5


def test_http_oversized_body_is_a_bad_response(engine, generic_fake):
    engine.params = {**engine.params, "max_body_bytes": 1_000_000}
    generic_fake.faults = ["oversized"]

    with pytest.raises(BadResponseError, match="cap"):
        engine_generate(engine=engine, request=_request())

    assert len(generic_fake.requests) == 1


def test_http_gzip_bomb_trips_the_cap_after_decompression(engine, generic_fake):
    engine.params = {**engine.params, "max_body_bytes": 1_000_000}
    generic_fake.faults = ["gzip_bomb"]

    with pytest.raises(BadResponseError, match="after decompression"):
        engine_generate(engine=engine, request=_request())


def test_http_non_image_bytes_are_a_bad_response(engine, generic_fake):
    generic_fake.faults = ["not_image"]

    with pytest.raises(BadResponseError, match="not a PNG, JPEG or WebP"):
        engine_generate(engine=engine, request=_request())


def test_http_pixel_bomb_is_refused_before_decoding(engine, generic_fake):
    generic_fake.faults = ["pixel_bomb"]

    with pytest.raises(BadResponseError, match="pixel"):
        engine_generate(engine=engine, request=_request())


def test_http_sniffs_jpeg_whatever_the_content_type_says(engine, generic_fake):
    generic_fake.faults = ["jpeg"]

    result = engine_generate(engine=engine, request=_request(width=320, height=200))

    assert result.mime_type == "image/jpeg"


def test_http_redirect_is_not_followed(engine, generic_fake):
    generic_fake.faults = ["redirect"]

    with pytest.raises(BadResponseError, match="redirect"):
        engine_generate(engine=engine, request=_request())

    assert len(generic_fake.requests) == 1


def test_http_base_url_not_allowlisted_is_refused_before_any_request(engine, generic_fake, settings):
    settings.RENDERHUB_ENGINE_HOST_ALLOWLIST = ["api.openai.com"]

    with pytest.raises(MisconfiguredError, match="not in RENDERHUB_ENGINE_HOST_ALLOWLIST"):
        engine_generate(engine=engine, request=_request())

    assert generic_fake.requests == []
