"""Engine configuration checks shared by Engine.clean(), the forms and any importer."""

import re
from decimal import Decimal, InvalidOperation
from typing import Any

SIZE_KEY = re.compile(r"^\d{2,5}x\d{2,5}$")
# Price table keys: a pixel size, a vendor's aspect ratio / enum ("16:9", "16x9",
# "ASPECT_16_9"), or "*" for any size (see pricing.table_price).
PRICE_KEY = re.compile(r"^(\d{2,5}x\d{2,5}|\d{1,2}:\d{1,2}|ASPECT_\d{1,2}_\d{1,2}|\*)$")
NEEDS_KEY = {"openai", "imagen", "gemini", "stability", "ideogram"}
NEEDS_MODEL = {"openai", "imagen", "gemini"}
NEEDS_URL = {"http", "comfyui"}
API_CHOICES = {"imagen": ("gemini", "vertex"), "ideogram": ("legacy", "v3", "v4")}
# The built-in simulation does arithmetic on these (adapters/builtin.py DEFAULTS): a string
# would save and then fail every render and the test button.
BUILTIN_NUMBER_PARAMS = ("latency_p50_ms", "latency_sigma", "tail_prob", "tail_factor", "typo_rate", "detail")

# Every numeric adapter parameter with its allowed range (low, high, what it is). Rates and
# probabilities are fractions (0–1), so a typo like 1.7 is refused; the other bounds are
# generous sanity limits, not vendor facts. Stated on the engine form next to the params.
NUMBER_PARAMS: dict[str, tuple[float, float, str]] = {
    "typo_rate": (0, 1, "built-in: share of texts misspelled at guidance 0"),
    "tail_prob": (0, 1, "built-in: probability of a slow call"),
    "detail": (0, 1, "built-in: 0 flat preview look, 1 finer final"),
    "latency_p50_ms": (0, 600_000, "built-in: median latency, ms"),
    "latency_sigma": (0, 5, "built-in: log-normal spread of the latency"),
    "tail_factor": (1, 100, "built-in: how many times slower a slow call is"),
    "backoff_base_s": (0, 60, "first retry back-off, s"),
    "backoff_cap_s": (0, 600, "longest retry back-off, s"),
    "retry_after_cap_s": (0, 3600, "longest Retry-After honoured, s"),
    "poll_interval_s": (0.01, 60, "ComfyUI/async polling interval, s"),
    "max_body_bytes": (1024, 200_000_000, "largest image answer accepted, bytes"),
    "max_side": (64, 16_384, "largest image side, px"),
    "size_multiple": (1, 256, "sizes are rounded to a multiple of this, px"),
    "cfg_scale": (0, 35, "Stability: prompt guidance scale"),
    "usd_per_1m_text_input_tokens": (0, 10_000, "Gemini: USD per 1M text input tokens"),
    "usd_per_1m_image_input_tokens": (0, 10_000, "Gemini: USD per 1M image input tokens"),
    "usd_per_1m_image_output_tokens": (0, 10_000, "Gemini: USD per 1M image output tokens"),
}

# The engine's own numeric fields and their ranges (the form states them and sets min/max).
FIELD_RANGES: dict[str, tuple[float, float]] = {
    "price_usd": (0, 100),
    "connect_timeout_s": (0.1, 60),
    "read_timeout_s": (0.1, 600),
    "deadline_s": (0.1, 1800),
    "max_retries": (0, 10),
    "concurrency_limit": (0, 1000),
}


def number_text(value: float) -> str:
    """1.0 → "1", 0.1 → "0.1", 600000 → "600000" (for messages and the form)."""
    return f"{value:g}" if abs(value) < 1e6 else str(int(value))


def range_text(low: float, high: float) -> str:
    return f"{number_text(low)}–{number_text(high)}"


def params_ranges_text() -> str:
    """The numeric params and their ranges, one line for the form's help text."""
    return "; ".join(f"{key} {range_text(low, high)}" for key, (low, high, _) in NUMBER_PARAMS.items())


# Lifecycle notes from research/engines.md §0: shown on the engine pages, never enforced
# (model ids are configuration; the vendor's own "model not found" is the real signal).
LIFECYCLE: dict[str, str] = {
    "dall-e-3": "OpenAI shut DALL·E 3 down on 2026-05-12.",
    "dall-e-2": "OpenAI shut DALL·E 2 down on 2026-05-12.",
    "gpt-image-1": "OpenAI shut gpt-image-1 down on 2026-10-23.",
    "gpt-image-1-mini": "Deprecated; OpenAI shuts it down on 2026-12-01.",
    "gpt-image-1.5": "Deprecated; OpenAI shuts it down on 2026-12-01.",
    "imagen-4.0-generate-001": "Imagen 4 is deprecated (shutdown from 2026-08-17; the Gemini API answers 404).",
    "imagen-4.0-ultra-generate-001": "Imagen 4 is deprecated (shutdown from 2026-08-17; the Gemini API answers 404).",
    "imagen-4.0-fast-generate-001": "Imagen 4 is deprecated (shutdown from 2026-08-17; the Gemini API answers 404).",
    "sd3.5_turbo": "Not a Stability model id: the API value is sd3.5-large-turbo.",
}


def _price(value: Any) -> bool:
    try:
        return Decimal(str(value)) >= 0
    except (InvalidOperation, ValueError):
        return False


def price_table_problems(table: Any) -> list[str]:
    if not isinstance(table, dict):
        return ['The price table must be an object like {"1024x1024": {"standard": "0.04", "hd": "0.08"}}.']
    problems = []
    for size, entry in table.items():
        if not PRICE_KEY.match(str(size)):
            problems.append(f"Price table key {size!r} is not a size like 1024x1024 (or 16:9, or * for any size).")
        elif isinstance(entry, dict):
            problems += [
                f"Price for {size} / {quality} must be a non-negative number (got {price!r})."
                for quality, price in entry.items()
                if not _price(price)
            ]
        elif not _price(entry):
            problems.append(f"Price for {size} must be a non-negative number (got {entry!r}).")
    return problems


def engine_problems(engine: Any) -> dict[str, list[str]]:
    """Field name → messages for everything wrong with an engine's configuration."""
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    if engine.slug == "new":
        add("slug", "“new” is reserved for the New engine page.")
    if engine.price_usd is not None and not _price(engine.price_usd):
        add("price_usd", "The base price cannot be negative.")
    for message in price_table_problems(engine.price_table):
        add("price_table", message)
    params = engine.params
    if not isinstance(params, dict):
        add("params", "Params must be a JSON object.")
        params = {}
    if not isinstance(engine.capabilities, dict):
        add("capabilities", "Capabilities must be a JSON object.")
    kind = engine.adapter
    if kind in NEEDS_KEY and not engine.api_key_env:
        add("api_key_env", "This adapter needs the name of the environment variable holding its key.")
    if kind in NEEDS_MODEL and not engine.model_id:
        add("model_id", "This adapter needs a model id.")
    if kind in NEEDS_URL and not engine.base_url:
        add("base_url", "This adapter needs a base URL.")
    if kind in API_CHOICES and "api" in params and params["api"] not in API_CHOICES[kind]:
        add("params", f"params.api must be one of {', '.join(API_CHOICES[kind])}.")
    if kind == "imagen" and params.get("api") == "vertex" and not engine.base_url:
        add("base_url", "Vertex AI needs https://LOCATION-aiplatform.googleapis.com/v1/projects/P/locations/L.")
    for key, (low, high, _what) in NUMBER_PARAMS.items():
        if key not in params and not (kind == "builtin" and key in BUILTIN_NUMBER_PARAMS):
            continue
        value = params.get(key, low)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            add("params", f"params.{key} must be a non-negative number (got {value!r}); range {range_text(low, high)}.")
        elif not low <= value <= high:
            add("params", f"params.{key} must be within {range_text(low, high)} (got {value!r}).")
    for field, (low, high) in FIELD_RANGES.items():
        value = getattr(engine, field, None)
        try:
            out_of_range = value is not None and not low <= float(value) <= high
        except (TypeError, ValueError):
            continue  # the field's own validation names a value that is not a number
        if out_of_range and field not in problems:
            add(field, f"Must be within {range_text(low, high)} (got {number_text(float(value))}).")
    if kind == "builtin":
        simulated = params.get("adapters", {})
        if not isinstance(simulated, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1 for v in simulated.values()
        ):
            add("params", 'params.adapters must map adapter references to a typo factor 0–1, e.g. {"my-lora": 0.3}.')
    if "sizes" in params and (
        not isinstance(params["sizes"], list) or not all(SIZE_KEY.match(str(s)) for s in params["sizes"])
    ):
        add("params", 'params.sizes must be a list like ["1024x1024", "1792x1024"].')
    if "concurrency_group" in params and not re.match(r"^[a-z0-9_-]{1,50}$", str(params["concurrency_group"])):
        add("params", "params.concurrency_group must be a short slug (a-z, 0-9, -, _).")
    if "workflow" in params and not isinstance(params["workflow"], dict):
        add("params", "params.workflow must be a ComfyUI API-format workflow object.")
    try:
        if float(engine.deadline_s) < float(engine.connect_timeout_s):
            add("deadline_s", "The overall deadline must be at least the connect timeout.")
    except (TypeError, ValueError):
        pass
    return problems
