import uuid

import pytest
import redis


@pytest.fixture(autouse=True)
def _no_simulated_wait(settings):  # type: ignore[no-untyped-def]
    settings.RENDERHUB_BUILTIN_LATENCY_SCALE = 0


@pytest.fixture(autouse=True)
def _patient_heartbeats(settings):  # type: ignore[no-untyped-def]
    """A seeded "live" heartbeat stays live however slowly a loaded machine runs the test."""
    settings.RENDERHUB_HEARTBEAT_DEAD_SECONDS = 120


@pytest.fixture
def own_queues(settings):  # type: ignore[no-untyped-def]
    """Queue names of this test alone: no live worker of another test consumes them."""
    tag = uuid.uuid4().hex[:8]
    names = {
        "preview": f"t{tag}.preview",
        "final": f"t{tag}.final",
        "verify": f"t{tag}.verify",
        "verify_preview": f"t{tag}.verify-preview",
    }
    settings.RENDERHUB_QUEUES = names
    yield names
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    keys = client.keys(f"t{tag}.*")
    if keys:
        client.delete(*keys)
