"""Every adapter against the faults every vendor can show (research/reliability.md §3):
429 with Retry-After / retry-after-ms, plain-text 429, 5xx storms, slow drip, malformed
JSON, oversized and gzip-bomb bodies, redirects. Vendor-specific faults are in each
adapter's own test module."""

import threading
import time

import pytest

from apps.engines.adapters import adapter_for
from apps.engines.services import engine_generate
from apps.engines.types import BadResponseError, EngineRequest, MisconfiguredError, RetryableError
from tests.engines import fakes
from tests.engines.conftest import engine_for

VERTEX = "/v1/projects/p1/locations/us-central1"
# path id → (adapter, fake, engine fields, base URL suffix): every wire format an adapter speaks.
VENDORS = {
    "http": ("http", fakes.GenericFake, {"api_key_env": ""}, "/generate"),
    "openai": ("openai", fakes.OpenAIFake, {"model_id": "gpt-image-1"}, "/v1"),
    "openai-gpt-image-2": ("openai", fakes.OpenAIFake, {"model_id": "gpt-image-2"}, "/v1"),
    "imagen": ("imagen", fakes.ImagenFake, {"model_id": "imagen-4.0-generate-001", "params": {"api": "gemini"}}, ""),
    "imagen-vertex": (
        "imagen",
        fakes.ImagenFake,
        {"model_id": "imagen-4.0-ultra-generate-001", "params": {"api": "vertex"}},
        VERTEX,
    ),
    "gemini": ("gemini", fakes.GeminiFake, {"model_id": "gemini-3.1-flash-image"}, ""),
    "stability": ("stability", fakes.StabilityFake, {"model_id": "sd3.5-large-turbo"}, ""),
    "ideogram": ("ideogram", fakes.IdeogramFake, {"model_id": "V_2_TURBO"}, ""),
    "ideogram-v3": ("ideogram", fakes.IdeogramFake, {"model_id": "V_3"}, ""),
    "ideogram-v4": ("ideogram", fakes.IdeogramFake, {"model_id": "V_4"}, ""),
    "comfyui": (
        "comfyui",
        fakes.ComfyUIFake,
        {"model_id": "sd15.safetensors", "api_key_env": "", "params": {"poll_interval_s": 0.01}},
        "",
    ),
}
# The vendors' answer to a bad key (OpenAI 401 invalid_api_key, Gemini API 400 API_KEY_INVALID,
# Vertex 401 UNAUTHENTICATED, Stability 401 unauthorized, Ideogram 401) and the words of it.
BAD_KEY = {
    "openai": "Incorrect API key provided",
    "openai-gpt-image-2": "Incorrect API key provided",
    "imagen": "API key not valid",
    "imagen-vertex": "invalid authentication credentials",
    "gemini": "API key not valid",
    "stability": "Incorrect API key provided",
    "ideogram": "Invalid API key",
    "ideogram-v4": "Invalid API key",
}
# A retired or unknown model: OpenAI model_not_found (404 and 400 forms), Google 404.
RETIRED = {
    "openai": ("retired", "has been deprecated"),
    "openai-gpt-image-2": ("unknown_model", "does not exist"),
    "imagen": ("retired", "no longer available"),
    "imagen-vertex": ("retired", "no longer available"),
    "gemini": ("retired", "is not found"),
    "stability": ("retired", "no longer available"),
}
REQUEST = EngineRequest(prompt="a fox", seed=11, width=512, height=512)


def _serve(path: str):  # type: ignore[no-untyped-def]
    adapter, fake_cls, fields, suffix = VENDORS[path]
    fake = fake_cls()
    engine = engine_for(adapter, fake.url + suffix, **fields)
    return engine, fake


@pytest.fixture(params=list(VENDORS))
def vendor(request, db):  # type: ignore[no-untyped-def]
    engine, fake = _serve(request.param)
    yield engine, fake
    fake.close()


@pytest.fixture(params=list(BAD_KEY))
def keyed_vendor(request, db):  # type: ignore[no-untyped-def]
    engine, fake = _serve(request.param)
    yield request.param, engine, fake
    fake.close()


@pytest.fixture(params=list(RETIRED))
def modelled_vendor(request, db):  # type: ignore[no-untyped-def]
    engine, fake = _serve(request.param)
    yield request.param, engine, fake
    fake.close()


def test_adapter_retries_after_retry_after_ms(vendor):
    engine, fake = vendor
    fake.faults = ["429_retry_after_ms"]

    started = time.monotonic()
    result = engine_generate(engine=engine, request=REQUEST)

    assert time.monotonic() - started >= 0.28
    assert result.sent["retries"] == 1


def test_adapter_gives_up_on_plain_text_429_with_long_retry_after(vendor):
    engine, fake = vendor
    fake.faults = ["429_plain"]

    with pytest.raises(RetryableError) as info:
        engine_generate(engine=engine, request=REQUEST)

    assert info.value.retry_after == 54749
    assert len(fake.generation_requests()) == 1


def test_adapter_survives_a_short_5xx_storm(vendor):
    engine, fake = vendor
    fake.faults = ["502", "503"]

    result = engine_generate(engine=engine, request=REQUEST)

    assert result.sent["retries"] == 2


def test_adapter_fails_retryable_on_a_long_5xx_storm(vendor):
    engine, fake = vendor
    fake.faults = ["500"] * 5

    with pytest.raises(RetryableError) as info:
        engine_generate(engine=engine, request=REQUEST)

    assert len(fake.generation_requests()) == 3
    assert not info.value.possibly_billed  # a 5xx is the vendor declining the work: nothing billed


@pytest.mark.parametrize("fault", ["drip", "drip_then_stall"])
def test_adapter_slow_body_is_cut_at_the_deadline(vendor, fault):
    engine, fake = vendor
    engine.deadline_s, engine.read_timeout_s, engine.max_retries = 0.8, 3.0, 0
    fake.faults = [fault]

    started = time.monotonic()
    with pytest.raises(RetryableError, match="deadline"):
        engine_generate(engine=engine, request=REQUEST)

    assert time.monotonic() - started < 1.6


@pytest.mark.parametrize("fault", ["malformed", "oversized", "gzip_bomb"])
def test_adapter_bad_body_is_a_bad_response_and_not_retried(vendor, fault):
    engine, fake = vendor
    engine.params = {**engine.params, "max_body_bytes": 2_000_000}
    fake.faults = [fault]

    with pytest.raises(BadResponseError):
        engine_generate(engine=engine, request=REQUEST)

    assert len(fake.generation_requests()) == 1


def test_adapter_does_not_follow_redirects(vendor):
    engine, fake = vendor
    fake.faults = ["redirect"]

    with pytest.raises(BadResponseError, match="redirect"):
        engine_generate(engine=engine, request=REQUEST)

    assert all("169.254" not in r.path for r in fake.requests)


def test_adapter_concurrency_limit_caps_requests_in_flight(vendor):
    engine, fake = vendor
    engine.concurrency_limit = 2
    fake.latency = 0.25
    errors: list[Exception] = []

    def call() -> None:  # the adapter itself: threads would not see the test's uncommitted rows
        try:
            adapter_for(engine).generate(REQUEST)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert fake.max_inflight == 2


def test_adapter_bad_key_is_misconfigured_with_the_vendors_message(keyed_vendor):
    path, engine, fake = keyed_vendor
    fake.faults = ["bad_key"]

    with pytest.raises(MisconfiguredError) as info:
        engine_generate(engine=engine, request=REQUEST)

    assert BAD_KEY[path] in info.value.message
    assert len(fake.generation_requests()) == 1


def test_adapter_retired_model_is_misconfigured_with_the_vendors_message(modelled_vendor):
    path, engine, fake = modelled_vendor
    fault, words = RETIRED[path]
    fake.faults = [fault]

    with pytest.raises(MisconfiguredError) as info:
        engine_generate(engine=engine, request=REQUEST)

    assert words in info.value.message
    assert len(fake.generation_requests()) == 1


def test_adapter_reports_what_it_billed(vendor):
    engine, _fake = vendor

    result = engine_generate(engine=engine, request=REQUEST)

    assert result.billing is not None
    assert result.billing.model == engine.model_id
    assert result.billing.n == 1
    assert result.billing.size
    assert "x" in result.billing.pixels


def test_adapter_paid_call_that_timed_out_after_sending_is_not_sent_again(vendor):
    """A POST that reached the vendor and got no answer may have been billed: sending it
    again could bill twice and book once. Paid vendors raise at once, flagged "possibly
    billed"; ComfyUI (our own hardware, nothing billed per call) is retried as before."""
    engine, fake = vendor
    engine.read_timeout_s, engine.max_retries = 0.5, 2
    fake.faults = ["slow_headers"] * 3

    with pytest.raises(RetryableError) as info:
        engine_generate(engine=engine, request=REQUEST)

    assert "timed out" in info.value.message
    if engine.adapter == "comfyui":
        assert len(fake.generation_requests()) == 3
    else:
        assert info.value.possibly_billed
        assert len(fake.generation_requests()) == 1
