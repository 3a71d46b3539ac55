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
    if kind == "builtin":
        for key in BUILTIN_NUMBER_PARAMS:
            value = params.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                add("params", f"params.{key} must be a non-negative number (got {value!r}).")
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
