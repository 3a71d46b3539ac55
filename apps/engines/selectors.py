"""Reads for the engine pages: health from the engine's own call records."""

import os
from dataclasses import dataclass

from apps.engines import pricing
from apps.engines.models import Engine, EngineCall
from apps.engines.types import MisconfiguredError
from apps.engines.validation import LIFECYCLE

HEALTH_WINDOW = 200


@dataclass(frozen=True, kw_only=True)
class EngineHealth:
    calls: int
    successes: int
    success_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    last_error: str
    last_error_kind: str
    last_error_at: object | None
    unhealthy: str = ""  # the vendor's message when the latest call found the engine misconfigured


def _percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, int(-(-q * len(sorted_values) // 100)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def engine_health(*, engine: Engine, window: int = HEALTH_WINDOW) -> EngineHealth:
    """Success rate and latency percentiles over the engine's last `window` calls (successful
    calls only for latency), and its most recent error."""
    recent = list(EngineCall.objects.filter(engine=engine).order_by("-started_at").values("ok", "latency_ms")[:window])
    latencies = sorted(c["latency_ms"] for c in recent if c["ok"])
    successes = sum(1 for c in recent if c["ok"])
    last = EngineCall.objects.filter(engine=engine, ok=False).order_by("-started_at").first()
    latest = EngineCall.objects.filter(engine=engine).order_by("-started_at").first()
    # A bad key, a retired or unknown model does not heal by itself: until a call succeeds
    # again, the engine is unhealthy with the vendor's own words.
    unhealthy = latest.error if latest and not latest.ok and latest.error_kind == MisconfiguredError.kind else ""
    return EngineHealth(
        calls=len(recent),
        successes=successes,
        success_rate=successes / len(recent) if recent else None,
        p50_ms=_percentile(latencies, 50),
        p95_ms=_percentile(latencies, 95),
        last_error=last.error if last else "",
        last_error_kind=last.error_kind if last else "",
        last_error_at=last.started_at if last else None,
        unhealthy=unhealthy,
    )


def engine_key_present(*, engine: Engine) -> bool | None:
    """Whether the engine's key variable is set in this process (None: it names none)."""
    return bool(os.environ.get(engine.api_key_env)) if engine.api_key_env else None


def engine_price_note(*, engine: Engine) -> str:
    return pricing.engine_price_gap(engine)


def engine_lifecycle_note(*, engine: Engine) -> str:
    return LIFECYCLE.get(engine.model_id, "")
