"""The real vendors' engines, with prices from research/engines.md (editable afterwards).

Used by the data migration 0003 and by the demo seed. A row is enabled only when its key
variable is set where it is created; the builtin simulations are separate and stay.
Prices marked UNCONFIRMED in the research are seeded as the research's best figure.
"""

import os
from decimal import Decimal
from typing import Any

OPENAI = {"adapter": "openai", "api_key_env": "OPENAI_API_KEY", "read_timeout_s": 120.0, "deadline_s": 150.0}
IMAGEN = {"adapter": "imagen", "api_key_env": "GEMINI_API_KEY", "read_timeout_s": 120.0, "deadline_s": 150.0}
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

VENDOR_ENGINES: list[dict[str, Any]] = [
    {
        **OPENAI,
        "slug": "openai-dall-e-3",
        "name": "DALL·E 3",
        "model_id": "dall-e-3",
        "price_usd": Decimal("0.04"),
        "price_table": DALLE_TABLE,
        "params": {"style": "vivid"},
        "capabilities": {"seed": False},
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
    },
    {
        **IMAGEN,
        "slug": "imagen4-ultra",
        "name": "Imagen 4 Ultra",
        "model_id": "imagen-4.0-ultra-generate-001",
        "price_usd": Decimal("0.06"),
        "capabilities": {"seed": False, "aliases": ["imagen4_ultra"]},
    },
    {
        **IMAGEN,
        "slug": "imagen4-standard",
        "name": "Imagen 4",
        "model_id": "imagen-4.0-generate-001",
        "price_usd": Decimal("0.04"),
        "capabilities": {"seed": False, "aliases": ["imagen4"]},
    },
    {
        **IMAGEN,
        "slug": "imagen4-fast",
        "name": "Imagen 4 Fast",
        "model_id": "imagen-4.0-fast-generate-001",
        "price_usd": Decimal("0.02"),
        "capabilities": {"seed": False, "aliases": ["imagen4_fast"]},
    },
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
    {
        **IDEOGRAM,
        "slug": "ideogram-v3",
        "name": "Ideogram 3.0",
        "model_id": "V_3",
        "price_usd": Decimal("0.06"),
        "params": {"api": "v3", "rendering_speed": "DEFAULT", "concurrency_group": "ideogram-org"},
        "capabilities": {"seed": True},
    },
    {
        **IDEOGRAM,
        "slug": "ideogram-v3-turbo",
        "name": "Ideogram 3.0 Turbo",
        "model_id": "V_3",
        "price_usd": Decimal("0.03"),
        "params": {"api": "v3", "rendering_speed": "TURBO", "concurrency_group": "ideogram-org"},
        "capabilities": {"seed": True},
    },
]


def vendor_engines_seed(engine_model: Any) -> int:
    """Create the vendor engines that do not exist yet (existing rows keep their edits)."""
    created = 0
    for spec in VENDOR_ENGINES:
        fields = {k: v for k, v in spec.items() if k != "slug"}
        fields["enabled"] = bool(os.environ.get(spec["api_key_env"]))
        _, was_created = engine_model.objects.get_or_create(slug=spec["slug"], defaults=fields)
        created += int(was_created)
    return created
