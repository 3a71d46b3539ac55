"""The real vendors' engines, with prices from research/engines.md (editable afterwards).

Used by the data migrations 0003 and 0005 and by the demo seed. A row is enabled only when
its key variable is set where it is created (Vertex rows also need `VERTEX_PROJECT`); the
builtin simulations are separate and stay. Prices marked UNCONFIRMED in the research are
seeded as the research's best figure.

Retired models stay seeded, shown with the vendor's date and not routable (`retired_on`):
DALL·E 3 (shut down 2026-05-12), gpt-image-1 (2026-10-23), gpt-image-1-mini (2026-12-01)
and Imagen 4 on the Gemini API (2026-08-17; Google also disabled GenerateImages for the
Gemini API in python-genai 43ef621f). Their successors, callable today: OpenAI gpt-image-2;
Google's gemini-3.1-flash-image on the Gemini API and Imagen 4 on Vertex AI (deprecated
there too but not reported shut down); Ideogram 3.0 and 4.0; SD 3.5.
"""

import datetime
import os
from decimal import Decimal
from typing import Any

OPENAI = {"adapter": "openai", "api_key_env": "OPENAI_API_KEY", "read_timeout_s": 120.0, "deadline_s": 150.0}
IMAGEN = {"adapter": "imagen", "api_key_env": "GEMINI_API_KEY", "read_timeout_s": 120.0, "deadline_s": 150.0}
# Vertex AI: the variable holds an OAuth access token (`gcloud auth print-access-token`).
VERTEX = {"adapter": "imagen", "api_key_env": "VERTEX_ACCESS_TOKEN", "read_timeout_s": 120.0, "deadline_s": 150.0}
GEMINI = {"adapter": "gemini", "api_key_env": "GEMINI_API_KEY", "read_timeout_s": 120.0, "deadline_s": 150.0}
STABILITY = {"adapter": "stability", "api_key_env": "STABILITY_API_KEY", "concurrency_limit": 8}
# Ideogram allows 10 images in flight per organisation: one slot group for all its engines.
IDEOGRAM = {"adapter": "ideogram", "api_key_env": "IDEOGRAM_API_KEY", "concurrency_limit": 10}

DALLE_TABLE = {
    "1024x1024": {"standard": "0.04", "hd": "0.08"},
    "1792x1024": {"standard": "0.08", "hd": "0.12"},
    "1024x1792": {"standard": "0.08", "hd": "0.12"},
}
GPT1_WIDE = {"low": "0.016", "medium": "0.063", "high": "0.25"}
GPT1_MINI_WIDE = {"low": "0.006", "medium": "0.015", "high": "0.052"}
# gpt-image-2 per-image estimates at $30 / 1M image output tokens (robotsatlas.com quoting
# openai.com/api/pricing; secondary, UNCONFIRMED); the call is priced from its usage first.
GPT2_TABLE = {
    "1024x1024": {"low": "0.006", "medium": "0.053", "high": "0.211"},
    "1536x1024": {"low": "0.005", "medium": "0.041", "high": "0.165"},
    "1024x1536": {"low": "0.005", "medium": "0.041", "high": "0.165"},
}
# Gemini 3.1 Flash Image: 747 / 1120 / 1680 / 2520 output tokens for 512 / 1K / 2K / 4K at
# $60 per 1M (docs.cloud.google.com …/3-1-flash-image-preview; xairouter.com: $0.045 / 0.067
# / 0.101 / 0.151 per image; secondary).
GEMINI_FLASH_IMAGE_TABLE = {"*": {"512": "0.045", "1K": "0.067", "2K": "0.101", "4K": "0.151"}}
# Ideogram per output image by rendering speed, June 2026 (research §4.5).
IDEOGRAM_V3_TABLE = {"*": {"TURBO": "0.03", "DEFAULT": "0.06", "QUALITY": "0.09"}}
IDEOGRAM_V4_TABLE = {"*": {"TURBO": "0.03", "DEFAULT": "0.06", "QUALITY": "0.10"}}

GEMINI_IMAGEN_NOTE = (
    "Google shut Imagen 4 down on the Gemini API (deprecation table: shutdown 2026-08-17; the API answers 404). "
    "Use the Vertex AI row or gemini-3.1-flash-image."
)
VERTEX_IMAGEN_NOTE = (
    "Deprecated by Google (shutdown announced as early as 2026-08-17, not reported shut down on Vertex AI); "
    "successor gemini-3.1-flash-image."
)


def vertex_base_url() -> str:
    """The Vertex AI base URL from VERTEX_PROJECT / VERTEX_LOCATION (a placeholder project without)."""
    location = os.environ.get("VERTEX_LOCATION", "us-central1")
    project = os.environ.get("VERTEX_PROJECT", "set-your-project")
    return f"https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}"


D = datetime.date
VENDOR_ENGINES: list[dict[str, Any]] = [
    # --- OpenAI ------------------------------------------------------------------------
    {
        **OPENAI,
        "slug": "openai-gpt-image-2",
        "name": "GPT Image 2",
        "model_id": "gpt-image-2",
        "price_usd": Decimal("0.053"),
        "price_table": GPT2_TABLE,
        "params": {
            "quality": "medium",
            "usd_per_1m_text_input_tokens": 5,
            "usd_per_1m_image_input_tokens": 8,
            "usd_per_1m_image_output_tokens": 30,
        },
        "capabilities": {"seed": False},
    },
    {
        **OPENAI,
        "slug": "openai-dall-e-3",
        "name": "DALL·E 3",
        "model_id": "dall-e-3",
        "price_usd": Decimal("0.04"),
        "price_table": DALLE_TABLE,
        "params": {"style": "vivid"},
        "capabilities": {"seed": False},
        "retired_on": D(2026, 5, 12),
        "lifecycle_note": "OpenAI shut DALL·E 3 down on 2026-05-12; successor gpt-image-2.",
    },
    {
        **OPENAI,
        "slug": "openai-gpt-image-1",
        "name": "GPT Image 1",
        "model_id": "gpt-image-1",
        "price_usd": Decimal("0.042"),
        "price_table": {
            "1024x1024": {"low": "0.011", "medium": "0.042", "high": "0.167"},
            "1536x1024": GPT1_WIDE,
            "1024x1536": GPT1_WIDE,
        },
        "params": {"usd_per_1m_image_output_tokens": 40, "usd_per_1m_text_input_tokens": 5},
        "capabilities": {"seed": False},
        "retired_on": D(2026, 10, 23),
        "lifecycle_note": "OpenAI shut gpt-image-1 down on 2026-10-23; successor gpt-image-2.",
    },
    {
        **OPENAI,
        "slug": "openai-gpt-image-1-mini",
        "name": "GPT Image 1 mini",
        "model_id": "gpt-image-1-mini",
        "price_usd": Decimal("0.011"),
        "price_table": {
            "1024x1024": {"low": "0.005", "medium": "0.011", "high": "0.036"},
            "1536x1024": GPT1_MINI_WIDE,
            "1024x1536": GPT1_MINI_WIDE,
        },
        "capabilities": {"seed": False},
        "retired_on": D(2026, 12, 1),
        "lifecycle_note": "Deprecated; OpenAI shuts gpt-image-1-mini down on 2026-12-01; successor gpt-image-2.",
    },
    # --- Google ------------------------------------------------------------------------
    {
        **GEMINI,
        "slug": "gemini-3-1-flash-image",
        "name": "Gemini 3.1 Flash Image",
        "model_id": "gemini-3.1-flash-image",
        "price_usd": Decimal("0.067"),
        "price_table": GEMINI_FLASH_IMAGE_TABLE,
        "params": {"imageSize": "1K"},
        "capabilities": {"seed": False},
    },
    {
        **VERTEX,
        "slug": "vertex-imagen4-ultra",
        "name": "Imagen 4 Ultra (Vertex AI)",
        "model_id": "imagen-4.0-ultra-generate-001",
        "price_usd": Decimal("0.06"),
        "params": {"api": "vertex"},
        "capabilities": {"seed": True, "aliases": ["imagen4_ultra"]},
        "lifecycle_note": VERTEX_IMAGEN_NOTE,
    },
    {
        **VERTEX,
        "slug": "vertex-imagen4-standard",
        "name": "Imagen 4 (Vertex AI)",
        "model_id": "imagen-4.0-generate-001",
        "price_usd": Decimal("0.04"),
        "params": {"api": "vertex"},
        "capabilities": {"seed": True, "aliases": ["imagen4"]},
        "lifecycle_note": VERTEX_IMAGEN_NOTE,
    },
    {
        **VERTEX,
        "slug": "vertex-imagen4-fast",
        "name": "Imagen 4 Fast (Vertex AI)",
        "model_id": "imagen-4.0-fast-generate-001",
        "price_usd": Decimal("0.02"),
        "params": {"api": "vertex"},
        "capabilities": {"seed": True, "aliases": ["imagen4_fast"]},
        "lifecycle_note": VERTEX_IMAGEN_NOTE,
    },
    {
        **IMAGEN,
        "slug": "imagen4-ultra",
        "name": "Imagen 4 Ultra (Gemini API)",
        "model_id": "imagen-4.0-ultra-generate-001",
        "price_usd": Decimal("0.06"),
        "params": {"api": "gemini"},
        "capabilities": {"seed": False},
        "retired_on": D(2026, 8, 17),
        "lifecycle_note": GEMINI_IMAGEN_NOTE,
    },
    {
        **IMAGEN,
        "slug": "imagen4-standard",
        "name": "Imagen 4 (Gemini API)",
        "model_id": "imagen-4.0-generate-001",
        "price_usd": Decimal("0.04"),
        "params": {"api": "gemini"},
        "capabilities": {"seed": False},
        "retired_on": D(2026, 8, 17),
        "lifecycle_note": GEMINI_IMAGEN_NOTE,
    },
    {
        **IMAGEN,
        "slug": "imagen4-fast",
        "name": "Imagen 4 Fast (Gemini API)",
        "model_id": "imagen-4.0-fast-generate-001",
        "price_usd": Decimal("0.02"),
        "params": {"api": "gemini"},
        "capabilities": {"seed": False},
        "retired_on": D(2026, 8, 17),
        "lifecycle_note": GEMINI_IMAGEN_NOTE,
    },
    # --- Stability -------------------------------------------------------------------------
    {
        **STABILITY,
        "slug": "sd35-large-turbo",
        "name": "SD 3.5 Large Turbo",
        "model_id": "sd3.5-large-turbo",
        "price_usd": Decimal("0.04"),
        "capabilities": {"seed": True, "aliases": ["sd3.5_turbo"]},
    },
    {
        **STABILITY,
        "slug": "sd35-large",
        "name": "SD 3.5 Large",
        "model_id": "sd3.5-large",
        "price_usd": Decimal("0.065"),
        "capabilities": {"seed": True, "aliases": ["sd3.5_large"]},
    },
    {
        **STABILITY,
        "slug": "sd35-medium",
        "name": "SD 3.5 Medium",
        "model_id": "sd3.5-medium",
        "price_usd": Decimal("0.035"),
        "capabilities": {"seed": True, "aliases": ["sd3.5_medium"]},
    },
    # --- Ideogram --------------------------------------------------------------------------
    {
        **IDEOGRAM,
        "slug": "ideogram-v4",
        "name": "Ideogram 4.0",
        "model_id": "V_4",
        "price_usd": Decimal("0.06"),
        "price_table": IDEOGRAM_V4_TABLE,
        "params": {"api": "v4", "rendering_speed": "DEFAULT", "concurrency_group": "ideogram-org"},
        "capabilities": {"seed": False},
    },
    {
        **IDEOGRAM,
        "slug": "ideogram-v4-turbo",
        "name": "Ideogram 4.0 Turbo",
        "model_id": "V_4",
        "price_usd": Decimal("0.03"),
        "price_table": IDEOGRAM_V4_TABLE,
        "params": {"api": "v4", "rendering_speed": "TURBO", "concurrency_group": "ideogram-org"},
        "capabilities": {"seed": False},
    },
    {
        **IDEOGRAM,
        "slug": "ideogram-v3",
        "name": "Ideogram 3.0",
        "model_id": "V_3",
        "price_usd": Decimal("0.06"),
        "price_table": IDEOGRAM_V3_TABLE,
        "params": {"api": "v3", "rendering_speed": "DEFAULT", "concurrency_group": "ideogram-org"},
        "capabilities": {"seed": True},
    },
    {
        **IDEOGRAM,
        "slug": "ideogram-v3-turbo",
        "name": "Ideogram 3.0 Turbo",
        "model_id": "V_3",
        "price_usd": Decimal("0.03"),
        "price_table": IDEOGRAM_V3_TABLE,
        "params": {"api": "v3", "rendering_speed": "TURBO", "concurrency_group": "ideogram-org"},
        "capabilities": {"seed": True},
    },
    {
        **IDEOGRAM,
        "slug": "ideogram-v2",
        "name": "Ideogram V2",
        "model_id": "V_2",
        "price_usd": Decimal("0.08"),
        "params": {"api": "legacy", "concurrency_group": "ideogram-org"},
        "capabilities": {"seed": True},
    },
    {
        **IDEOGRAM,
        "slug": "ideogram-v2-turbo",
        "name": "Ideogram V2 Turbo",
        "model_id": "V_2_TURBO",
        "price_usd": Decimal("0.05"),
        "params": {"api": "legacy", "concurrency_group": "ideogram-org"},
        "capabilities": {"seed": True},
    },
]

# The product's policy names → the engines that serve them best today, in order of preference,
# and the note an import or a page shows. Retired engines are never the answer.
POLICY_NAMES: dict[str, tuple[tuple[str, ...], str]] = {
    "imagen4_ultra": (
        ("vertex-imagen4-ultra", "gemini-3-1-flash-image"),
        "imagen4_ultra: Imagen 4 Ultra is shut down on the Gemini API (2026-08-17); it is served by Vertex AI "
        "(deprecated there too), else by its successor Gemini 3.1 Flash Image.",
    ),
    "imagen4": (
        ("vertex-imagen4-standard", "gemini-3-1-flash-image"),
        "imagen4: served by Vertex AI (shut down on the Gemini API 2026-08-17), else by Gemini 3.1 Flash Image.",
    ),
    "imagen4_fast": (
        ("vertex-imagen4-fast", "gemini-3-1-flash-image"),
        "imagen4_fast: served by Vertex AI (shut down on the Gemini API 2026-08-17), else by Gemini 3.1 Flash Image.",
    ),
    "sd3.5_turbo": (
        ("sd35-large-turbo",),
        "sd3.5_turbo is not a Stability model id: Stability's id is sd3.5-large-turbo (SD 3.5 Large Turbo).",
    ),
    "dalle3": (("openai-gpt-image-2",), "DALL·E 3 was shut down on 2026-05-12: OpenAI's current model is gpt-image-2."),
    "dall-e-3": (
        ("openai-gpt-image-2",),
        "DALL·E 3 was shut down on 2026-05-12: OpenAI's current model is gpt-image-2.",
    ),
    "gpt_image_1": (("openai-gpt-image-2",), "gpt-image-1 was shut down on 2026-10-23: its successor is gpt-image-2."),
    "gpt-image-1": (("openai-gpt-image-2",), "gpt-image-1 was shut down on 2026-10-23: its successor is gpt-image-2."),
    "ideogram_v3": (("ideogram-v3",), "ideogram_v3: Ideogram 3.0 at DEFAULT speed."),
    "ideogram_v4": (("ideogram-v4",), "ideogram_v4: Ideogram 4.0 at DEFAULT speed."),
}


def _fields(engine_model: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec's fields that this (possibly historical) model has, plus `enabled`."""
    names = {f.name for f in engine_model._meta.get_fields()}
    fields = {k: v for k, v in spec.items() if k != "slug" and k in names}
    enabled = bool(os.environ.get(spec["api_key_env"]))
    if spec.get("params", {}).get("api") == "vertex":
        fields["base_url"] = vertex_base_url()
        enabled = enabled and bool(os.environ.get("VERTEX_PROJECT"))
    retired = spec.get("retired_on")
    fields["enabled"] = enabled and not (retired is not None and retired <= datetime.date.today())
    return fields


def vendor_engines_seed(engine_model: Any) -> int:
    """Create the vendor engines that do not exist yet (existing rows keep their edits).

    Existing rows only gain a retirement date and lifecycle note they do not have yet; a row
    whose vendor date has passed is disabled then too (it could only fail), once.
    """
    created = 0
    names = {f.name for f in engine_model._meta.get_fields()}
    for spec in VENDOR_ENGINES:
        fields = _fields(engine_model, spec)
        engine, was_created = engine_model.objects.get_or_create(slug=spec["slug"], defaults=fields)
        created += int(was_created)
        if was_created or "retired_on" not in names:
            continue
        changed = []
        if spec.get("retired_on") and engine.retired_on is None:
            engine.retired_on = spec["retired_on"]
            changed.append("retired_on")
            if engine.enabled and spec["retired_on"] <= datetime.date.today():
                engine.enabled = False
                changed.append("enabled")
        if spec.get("lifecycle_note") and not engine.lifecycle_note:
            engine.lifecycle_note = spec["lifecycle_note"]
            changed.append("lifecycle_note")
        if changed:
            engine.save(update_fields=changed)
    return created
