"""What one engine call cost, from what the adapter actually sent and what the vendor billed.

`price_attempt(engine, billing) -> Price(usd, source)`:

- "usage": the vendor reported usage that priced to more than $0 (OpenAI's GPT image
  models answer token `usage`; the adapter turns it into `usage_cost_usd` with the engine's
  per-token rates). An all-zero usage (an OpenAI-compatible proxy) is not plausible and is
  ignored.
- "table": the engine's price table at the size and quality sent (× n), else its base
  price when that is above $0. A built-in simulation is always priced by its table (it may
  cost $0: nothing is billed).
- "unknown": a vendor call that neither usage nor the table can price. The caller books $0
  and flags the attempt, never pretending it was free.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.engines.models import AdapterKind, Engine

ZERO = Decimal("0")


@dataclass(frozen=True, kw_only=True)
class Billing:
    """The units one call was billed for: model, size and quality as sent (a blank tier
    quality already resolved to the adapter's default), images asked for, the vendor's usage
    and the cost the adapter derived from it (None when there was no usage)."""

    model: str = ""
    size: str = ""
    quality: str = ""
    n: int = 1
    usage: dict[str, Any] | None = None
    usage_cost_usd: Decimal | None = None


@dataclass(frozen=True)
class Price:
    usd: Decimal
    source: str  # usage | table | unknown


def billing_from_sent(sent: dict[str, Any]) -> Billing:
    """A Billing from an `EngineResult.sent` dict (what the adapters record today)."""
    usage_cost: Decimal | None = None
    if sent.get("usage_cost_usd") not in (None, ""):
        try:
            usage_cost = Decimal(str(sent["usage_cost_usd"]))
        except InvalidOperation:
            usage_cost = None
    usage = sent.get("usage")
    return Billing(
        model=str(sent.get("model") or ""),
        size=str(sent.get("size") or sent.get("returned") or ""),
        quality=str(sent.get("quality") or sent.get("rendering_speed") or ""),
        n=int(sent.get("n") or 1),
        usage=usage if isinstance(usage, dict) else None,
        usage_cost_usd=usage_cost,
    )


def table_price(engine: Engine, *, size: str, quality: str = "") -> Decimal:
    """One image from the engine's price table at `size` (and `quality`), else its base price."""
    entry = (engine.price_table or {}).get(size)
    if isinstance(entry, dict):
        entry = entry.get(quality) or next(iter(entry.values()), None)
    return Decimal(str(entry)) if entry is not None else engine.price_usd


def default_quality(engine: Engine) -> str:
    """The quality an adapter sends when the tier leaves it blank (apps/engines/adapters)."""
    if engine.params.get("quality"):
        return str(engine.params["quality"])
    if engine.adapter == AdapterKind.OPENAI:
        return "standard" if engine.model_id.startswith("dall-e") else "medium"
    return ""


def engine_is_priced(engine: Engine) -> bool:
    """Whether the engine has any price at all (a simulation needs none)."""
    if engine.simulated:
        return True
    return bool(engine.price_usd and engine.price_usd > 0) or bool(engine.price_table)


def engine_price_gap(engine: Engine) -> str:
    """What of the engine's work cannot be priced, in words, or "" (shown on the engine pages)."""
    if engine.simulated:
        return ""
    if not engine_is_priced(engine):
        return "Unpriced: no price table and a base price of $0; tiers refuse it unless they allow unpriced engines."
    if not engine.price_usd:
        return "Sizes outside the price table have no price (base price $0): such images are booked as unknown."
    return ""


def price_attempt(engine: Engine, billing: Billing) -> Price:
    """The price one call is booked at, and where the figure comes from (module docstring)."""
    if billing.usage_cost_usd is not None and billing.usage_cost_usd > 0:
        return Price(billing.usage_cost_usd, "usage")
    per_image = table_price(engine, size=billing.size, quality=billing.quality)
    if per_image > 0 or engine.simulated:
        return Price(per_image * max(1, billing.n), "table")
    return Price(ZERO, "unknown")
