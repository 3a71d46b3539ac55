"""The price of one engine call from what it billed: `price_attempt(engine, billing) -> Price`.

Pure: no database, no clock. The order is

1. **usage** — the vendor's token count (`billing.usage`) times the model's token rates,
   when the count is plausible (non-negative, some output tokens: an OpenAI-compatible proxy
   that answers an all-zero `usage` is not believed) and rates are known;
2. **table** — the engine's `price_table` at the units actually sent (size, then quality;
   a `"*"` size key prices every size), else its flat `price_usd`;
3. **unknown** — `usd` is None. A delivered vendor image is never priced at $0 by default:
   a vendor engine with no price for the sent units is unknown, so the caller can flag it.
   Only self-hosted or simulated engines (`builtin`, `comfyui`, or any engine marked
   `is_simulation`) may be priced at a configured $0.

Token rates come from the engine's params (`usd_per_1m_text_input_tokens`,
`usd_per_1m_image_input_tokens`, `usd_per_1m_image_output_tokens`,
`usd_per_1m_text_output_tokens`), else from `TOKEN_RATES` below. Sources:

- gpt-image-1: text in $5, image in $10, image out $40 per 1M tokens
  (developers.openai.com/ja-JP/api/docs/models/gpt-image-1, research/engines.md §1.4).
- gpt-image-2: text in $5, image in $8, image out $30, text out $10 per 1M tokens (OpenAI's
  pricing page as quoted by xairouter.com/en/models/gpt-image-2 and, for text out,
  robotsatlas.com/ai-models/chatgpt-images-2-0; secondary).
- gemini-3.1-flash-image: text in $0.50, image out $60 per 1M tokens; 1K image = 1120
  tokens = $0.067 (docs.cloud.google.com …/3-1-flash-image-preview for the token counts;
  rates from docs.ai.it.ufl.edu and xairouter.com; secondary). Its image in and text out
  rates ($0.50, $3) are Gemini 3 Flash's text model's input and output rates (muapi.ai's
  quote of Google's page): no source gives them for the image model, so a Gemini answer
  with text output is priced on an assumption (the adapter asks for the image only).
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from apps.engines.types import Billing, TokenUsage

PriceSource = Literal["usage", "table", "unknown", "benchmark"]
MILLION = Decimal(1_000_000)
CENT_FRACTION = Decimal("0.000001")
# Adapters whose engines may be priced at a configured $0 (our own hardware, a simulation or
# the null benchmark engine).
ZERO_PRICE_ALLOWED = {"builtin", "comfyui", "null"}
# The null engine (adapters/null.py) is a benchmark, not a vendor: always $0, source "benchmark".
BENCHMARK_ADAPTERS = {"null"}
# An image answer with more output tokens than this is not believed (gpt-image-1 high at
# 1536×1024 is ~6 240 tokens; Gemini 4K is 2 520).
MAX_OUTPUT_TOKENS_PER_IMAGE = 100_000

RATE_KEYS = (
    "usd_per_1m_text_input_tokens",
    "usd_per_1m_image_input_tokens",
    "usd_per_1m_image_output_tokens",
    "usd_per_1m_text_output_tokens",
)
# Model id prefix → USD per 1M tokens (text in, image in, image out, text out); longest prefix wins.
TOKEN_RATES: dict[str, tuple[str, str, str, str]] = {
    "gpt-image-1": ("5", "10", "40", "0"),
    "gpt-image-2": ("5", "8", "30", "10"),
    "gemini-3.1-flash-image": ("0.50", "0.50", "60", "3"),
}


@dataclass(frozen=True, kw_only=True)
class Price:
    """The price of one call. `usd` is None exactly when `source` is "unknown"."""

    usd: Decimal | None
    source: PriceSource
    detail: str = ""  # how it was found, for the attempt's record and the engine page


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() and number >= 0 else None


def token_rates(engine: Any, model: str) -> tuple[Decimal, Decimal, Decimal, Decimal] | None:
    """(text in, image in, image out, text out) USD per 1M tokens, or None when unknown."""
    params = engine.params or {}
    if "usd_per_1m_image_output_tokens" in params:
        values = [_decimal(params.get(key, "0")) for key in RATE_KEYS]
        if any(v is None for v in values):
            return None
        text_in, image_in, image_out, text_out = (v for v in values if v is not None)
        if "usd_per_1m_image_input_tokens" not in params:
            image_in = text_in
        return text_in, image_in, image_out, text_out
    for prefix in sorted(TOKEN_RATES, key=len, reverse=True):
        if model.startswith(prefix):
            text_in, image_in, image_out, text_out = (Decimal(v) for v in TOKEN_RATES[prefix])
            return text_in, image_in, image_out, text_out
    return None


def usage_plausible(usage: TokenUsage, *, n: int = 1) -> bool:
    """A count a vendor could have billed for `n` generated images.

    Not plausible: any negative count, no output tokens at all (an all-zero `usage`, as some
    OpenAI-compatible proxies send), parts larger than the whole, or more output tokens than
    any image model produces.
    """
    counts = usage.as_json().values()
    if any(c < 0 for c in counts):
        return False
    if usage.output_tokens <= 0 or usage.output_image_tokens + usage.output_text_tokens > usage.output_tokens:
        return False
    if usage.input_text_tokens + usage.input_image_tokens > usage.input_tokens:
        return False
    if usage.total_tokens and usage.total_tokens < usage.output_tokens:
        return False
    return usage.output_tokens <= MAX_OUTPUT_TOKENS_PER_IMAGE * max(n, 1)


def usage_cost(usage: TokenUsage, rates: tuple[Decimal, Decimal, Decimal, Decimal]) -> Decimal:
    text_in, image_in, image_out, text_out = rates
    input_text = usage.input_text_tokens or (usage.input_tokens - usage.input_image_tokens)
    split = usage.output_image_tokens + usage.output_text_tokens
    output_image = usage.output_image_tokens if split else usage.output_tokens
    output_text = usage.output_text_tokens if split else 0
    cost = (
        Decimal(input_text) * text_in
        + Decimal(usage.input_image_tokens) * image_in
        + Decimal(output_image) * image_out
        + Decimal(output_text) * text_out
    ) / MILLION
    return cost.quantize(CENT_FRACTION)


def zero_price_allowed(engine: Any) -> bool:
    return engine.adapter in ZERO_PRICE_ALLOWED or bool(getattr(engine, "is_simulation", False))


def table_price(engine: Any, billing: Billing) -> tuple[Decimal | None, str]:
    """The engine's list price for one image at the sent size and quality, and how it was found.

    `price_table` is {size: price} or {size: {quality: price}}, size "*" for any size. A
    quality-priced size without the sent quality is unknown (never the first, cheapest entry).
    With no table entry for the size, the flat `price_usd` applies only when the table is empty.
    """
    table = engine.price_table or {}
    entry = table.get(billing.size, table.get("*")) if isinstance(table, dict) else None
    if isinstance(entry, dict):
        if billing.quality not in entry:
            qualities = ", ".join(sorted(entry)) or "none"
            return None, f"price table has no quality {billing.quality or '(blank)'!r} at {billing.size} ({qualities})"
        price = _decimal(entry[billing.quality])
        return price, f"price table {billing.size} / {billing.quality}"
    if entry is not None:
        return _decimal(entry), f"price table {billing.size}"
    if table:
        return None, f"price table has no entry for size {billing.size}"
    flat = _decimal(engine.price_usd)
    if flat is None:
        return None, "no price"
    if flat == 0 and not zero_price_allowed(engine):
        return None, "no price set for this vendor engine"
    return flat, "flat price per image"


def price_attempt(engine: Any, billing: Billing | None) -> Price:
    """The price of one engine call: usage-based, else the table at the sent units, else unknown.

    `engine` is an `Engine` (only `adapter`, `params`, `price_table`, `price_usd` are read);
    `billing` is `EngineResult.billing` (or `EngineError.billing` for a billed failure). USD
    amounts are Decimals quantized to 1e-6. Raises nothing: a bad price is "unknown".
    The null benchmark engine is $0 with source "benchmark": not a vendor, nothing billed.
    """
    if getattr(engine, "adapter", "") in BENCHMARK_ADAPTERS:
        return Price(usd=Decimal("0"), source="benchmark", detail="benchmark engine (null): not a vendor, priced $0")
    if billing is None:
        if zero_price_allowed(engine):
            price, how = table_price(engine, Billing(model="", size="*"))
            if price is not None:
                return Price(usd=price, source="table", detail=how)
        return Price(usd=None, source="unknown", detail="the engine reported no billing record")
    n = max(int(billing.n), 1)
    notes: list[str] = []
    if billing.usage is not None:
        rates = token_rates(engine, billing.model)
        if not usage_plausible(billing.usage, n=n):
            notes.append("usage not plausible (e.g. all zero), table used")
        elif rates is None:
            notes.append(f"no token rates for {billing.model}, table used")
        else:
            cost = usage_cost(billing.usage, rates)
            return Price(usd=cost, source="usage", detail=f"{billing.usage.output_tokens} output tokens")
    price, how = table_price(engine, billing)
    if price is None:
        return Price(usd=None, source="unknown", detail="; ".join([*notes, how]))
    total = (price * n).quantize(CENT_FRACTION)
    return Price(usd=total, source="table", detail="; ".join([*notes, how + (f" × {n}" if n > 1 else "")]))


def pricing_summary(engine: Any) -> tuple[str, bool]:
    """How this engine's calls are priced, for the engine page, and whether it is unpriced.

    Unpriced: a vendor engine with neither a price table nor a flat price, so every call it
    delivers is priced "unknown" (flagged, never booked at $0).
    """
    if getattr(engine, "adapter", "") in BENCHMARK_ADAPTERS:
        return 'A benchmark engine (null), not a vendor: every call is priced $0 (price source "benchmark").', False
    table = engine.price_table or {}
    flat = _decimal(engine.price_usd) or Decimal(0)
    unpriced = not table and flat == 0 and not zero_price_allowed(engine)
    if unpriced:
        return "No price set: every call is priced unknown (flagged, never $0) until a price or table is set.", True
    parts = []
    if token_rates(engine, engine.model_id or "") is not None and engine.adapter in ("openai", "gemini"):
        parts.append("from the vendor's token usage when the answer carries a plausible one")
    if table:
        parts.append("from the price table at the size and quality sent (unlisted units: unknown)")
    else:
        parts.append("at the flat price per image")
    return "Priced " + ", else ".join(parts) + ".", False
