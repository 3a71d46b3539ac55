"""Fixtures for the engine tests: the fake vendors and engines pointed at them.

The fakes listen on 127.0.0.1, which RenderHub refuses unless allowlisted: the Makefile's
`test` target adds it to RENDERHUB_ENGINE_HOST_ALLOWLIST (for worker processes too), and
`loopback_allowed` makes sure of it in this process whatever the environment says.
The fake vendors' key is set here at import time, before any worker process is started.
"""

import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from apps.engines.models import Engine
from tests.engines import fakes

KEY_ENV = "RENDERHUB_FAKE_VENDOR_KEY"
KEY = "fake-key-0123456789"
os.environ.setdefault(KEY_ENV, KEY)


@pytest.fixture(autouse=True)
def loopback_allowed(settings):  # type: ignore[no-untyped-def]
    if "127.0.0.1" not in settings.RENDERHUB_ENGINE_HOST_ALLOWLIST:
        settings.RENDERHUB_ENGINE_HOST_ALLOWLIST = [*settings.RENDERHUB_ENGINE_HOST_ALLOWLIST, "127.0.0.1"]


def _serve(fake: fakes.FakeServer) -> Iterator[Any]:
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def generic_fake() -> Iterator[fakes.GenericFake]:
    yield from _serve(fakes.GenericFake())


@pytest.fixture
def openai_fake() -> Iterator[fakes.OpenAIFake]:
    yield from _serve(fakes.OpenAIFake())


@pytest.fixture
def imagen_fake() -> Iterator[fakes.ImagenFake]:
    yield from _serve(fakes.ImagenFake())


@pytest.fixture
def gemini_fake() -> Iterator[fakes.GeminiFake]:
    yield from _serve(fakes.GeminiFake())


@pytest.fixture
def stability_fake() -> Iterator[fakes.StabilityFake]:
    yield from _serve(fakes.StabilityFake())


@pytest.fixture
def ideogram_fake() -> Iterator[fakes.IdeogramFake]:
    yield from _serve(fakes.IdeogramFake())


@pytest.fixture
def comfyui_fake() -> Iterator[fakes.ComfyUIFake]:
    yield from _serve(fakes.ComfyUIFake())


FAST_PARAMS = {"backoff_base_s": 0.01, "backoff_cap_s": 0.05, "retry_after_cap_s": 5}


def engine_for(adapter: str, base_url: str, *, save: bool = True, **overrides: Any) -> Engine:
    """An engine on a fake: short timeouts, quick backoff, the fake key."""
    params = {**FAST_PARAMS, **overrides.pop("params", {})}
    fields: dict[str, Any] = {
        "slug": f"{adapter}-fake",
        "name": f"{adapter} fake",
        "adapter": adapter,
        "model_id": "",
        "base_url": base_url,
        "api_key_env": KEY_ENV,
        "connect_timeout_s": 2.0,
        "read_timeout_s": 2.0,
        "deadline_s": 10.0,
        "max_retries": 2,
        "concurrency_limit": 4,
        "price_usd": Decimal("0.04"),
        "params": params,
        **overrides,
    }
    engine = Engine(**fields)
    if save:
        engine.save()
    return engine
