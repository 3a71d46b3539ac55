import pytest


@pytest.fixture(autouse=True)
def _no_simulated_wait(settings):  # type: ignore[no-untyped-def]
    settings.RENDERHUB_BUILTIN_LATENCY_SCALE = 0
