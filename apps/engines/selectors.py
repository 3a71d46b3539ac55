"""Reads for the engine pages: health from the engine's own call records."""

import datetime
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
    unpriced_calls: int = 0  # calls in the window whose cost is unknown (booked $0, flagged)
    last_unpriced: str = ""  # why the latest of them could not be priced


def _percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, int(-(-q * len(sorted_values) // 100)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def engine_health(*, engine: Engine, window: int = HEALTH_WINDOW) -> EngineHealth:
    """Success rate and latency percentiles over the engine's last `window` calls (successful
    calls only for latency), how many of them could not be priced, and its most recent error."""
    recent = list(
        EngineCall.objects.filter(engine=engine)
        .order_by("-started_at")
        .values("ok", "latency_ms", "price_unknown")[:window]
    )
    unpriced = [c["price_unknown"] for c in recent if c["price_unknown"]]
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
        unpriced_calls=len(unpriced),
        last_unpriced=unpriced[0] if unpriced else "",
    )


def engine_key_present(*, engine: Engine) -> bool | None:
    """Whether the engine's key variable is set in this process (None: it names none)."""
    return bool(os.environ.get(engine.api_key_env)) if engine.api_key_env else None


def engine_price_note(*, engine: Engine) -> str:
    """The pricing summary when the engine is unpriced (its calls would be priced unknown), else ""."""
    summary, unpriced = pricing.pricing_summary(engine)
    return summary if unpriced else ""


def engine_lifecycle_note(*, engine: Engine) -> str:
    """The retirement message with the vendor's date, else the lifecycle note, else a known note."""
    return engine.retirement_message or engine.lifecycle_note or LIFECYCLE.get(engine.model_id, "")


def engine_unroutable_reason(*, engine: Engine, today: datetime.date | None = None) -> str:
    """Why work may not be routed to `engine` ("" when it may): retired or disabled.

    For admission and routing: a retired engine's reason is its `retirement_message`.
    """
    if engine.is_retired(today):
        return engine.retirement_message
    if not engine.enabled:
        return f"{engine.name} is disabled."
    return ""


@dataclass(frozen=True, kw_only=True)
class PolicyNameMatch:
    engine: Engine | None  # the first routable engine serving the name, None if none is
    candidates: tuple[str, ...]  # engine slugs serving it, best first
    note: str  # what the name means today, for the import's notes and the pages


def engine_for_policy_name(*, name: str, today: datetime.date | None = None) -> PolicyNameMatch | None:
    """The best current engine for a product policy name such as "imagen4_ultra" or "sd3.5_turbo".

    None when the name is not one of `vendor_seed.POLICY_NAMES`. Retired and disabled
    engines are skipped; `engine` is None when none of the candidates is routable.
    """
    from apps.engines.vendor_seed import POLICY_NAMES

    if name not in POLICY_NAMES:
        return None
    slugs, note = POLICY_NAMES[name]
    by_slug = {e.slug: e for e in Engine.objects.filter(slug__in=slugs)}
    for slug in slugs:
        engine = by_slug.get(slug)
        if engine is not None and not engine_unroutable_reason(engine=engine, today=today):
            return PolicyNameMatch(engine=engine, candidates=slugs, note=note)
    return PolicyNameMatch(engine=None, candidates=slugs, note=note)
