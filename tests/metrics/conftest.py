import pytest


@pytest.fixture(autouse=True)
def _no_simulated_wait(settings):  # type: ignore[no-untyped-def]
    settings.RENDERHUB_BUILTIN_LATENCY_SCALE = 0


@pytest.fixture(autouse=True)
def _patient_heartbeats(settings):  # type: ignore[no-untyped-def]
    """A seeded "live" heartbeat stays live however slowly a loaded machine runs the test."""
    settings.RENDERHUB_HEARTBEAT_DEAD_SECONDS = 120
