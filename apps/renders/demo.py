"""Demo data: users of each role, the product's two tiers, two templates, built-in engines.

Idempotent: running it again updates the same rows (and sets new demo passwords).
"""

import secrets
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from apps.accounts.roles import ADMIN, EDITOR, MODERATOR
from apps.accounts.services import roles_sync
from apps.catalog.models import Adapter, Template
from apps.engines.models import AdapterKind, Engine
from apps.policy.models import AssetClass, Tier

BUILTIN_ENGINES = [
    {
        "slug": "builtin-turbo",
        "name": "Built-in Turbo",
        "model_id": "builtin-turbo-sim",
        "price_usd": Decimal("0.04"),
        "params": {"latency_p50_ms": 300, "latency_sigma": 0.25, "tail_prob": 0.0, "typo_rate": 0.15},
    },
    {
        "slug": "builtin-ultra",
        "name": "Built-in Ultra",
        "model_id": "builtin-ultra-sim",
        "price_usd": Decimal("0.06"),
        "params": {
            "latency_p50_ms": 1500,
            "latency_sigma": 0.15,
            "tail_prob": 0.05,
            "tail_factor": 2.2,
            "typo_rate": 0.03,
            "detail": 1.0,
        },
    },
]

# A typography specialist stand-in (like Ideogram) for the escalation ladder's engine step.
SPECIALIST_ENGINES = [
    {
        "slug": "builtin-typography",
        "name": "Built-in Typography",
        "model_id": "builtin-typography-sim",
        "price_usd": Decimal("0.08"),
        "params": {"latency_p50_ms": 1800, "latency_sigma": 0.2, "tail_prob": 0.02, "typo_rate": 0.01},
    },
]

TEMPLATES = [
    {
        "slug": "editorial-cover",
        "name": "Editorial cover",
        "description": "Cover art for an article, with its title set in the lower band.",
        "prompt_template": "Editorial cover illustration, bold modern flat style, with the title {title} "
        "in large clean sans-serif letters across the lower third",
        "negative_prompt": "watermark, extra text, signature",
        "slots": [{"name": "title", "label": "Title", "max_length": 48, "region": [0.06, 0.6, 0.94, 0.92]}],
        "width": 768,
        "height": 512,
        "palette": ["#1b3a6b", "#f2c14e", "#f78154", "#4d9078"],
        "guidance_tokens": "crisp legible typography, high contrast lettering",
        "asset_class": "editorial",
    },
    {
        "slug": "product-thumbnail",
        "name": "Product thumbnail",
        "description": "Square product thumbnail with one overlay word such as SALE.",
        "prompt_template": "Product thumbnail, studio light, with the overlay word {overlay} in a bold badge "
        "at the top right",
        "negative_prompt": "watermark, extra text",
        "slots": [{"name": "overlay", "label": "Overlay word", "max_length": 12, "region": [0.5, 0.06, 0.95, 0.32]}],
        "width": 512,
        "height": 512,
        "palette": ["#fdfdfd", "#d7263d", "#1b998b", "#2e294e"],
        "guidance_tokens": "bold sticker typography, exact spelling",
        "asset_class": "preview",
    },
]


# Not attached to any template by the seed (the demo's typo rates stay as they are); an admin
# attaches it on a template's page and runs the before/after harness.
DEMO_ADAPTERS = [
    {
        "slug": "cover-typography-sim",
        "name": "Cover typography (simulated)",
        "base_model": "built-in simulation (any built-in engine)",
        "reference": "renderhub-sim/typography-lora",
        "default_strength": 1.0,
        "notes": "SIMULATION: no weights exist. The built-in engines and engine_server know this reference and "
        "lower their typo rate for it, so the adapter loop can be shown offline.",
    },
]


def demo_seed(*, password: str | None = None) -> dict[str, str]:
    """Create or update the demo data; returns {username: password}."""
    engines = {}
    for spec in BUILTIN_ENGINES + SPECIALIST_ENGINES:
        engines[spec["slug"]], _ = Engine.objects.update_or_create(
            slug=spec["slug"],
            defaults={
                **spec,
                "adapter": AdapterKind.BUILTIN,
                "is_simulation": True,
                "enabled": True,
                "capabilities": {"seed": True, "guidance": True},
            },
        )
    preview, _ = Tier.objects.update_or_create(
        slug="preview",
        defaults={
            "name": "Preview",
            "preview_engine": engines["builtin-turbo"],
            "final_engine": engines["builtin-turbo"],
            "max_latency_ms": 800,
            "auto_final": False,
            "max_attempts": 2,
            "daily_budget_usd": Decimal("50"),
            "fallback_engine": engines["builtin-turbo"],
            "hedge_previews": True,
            "preview_queue": "render.preview",
            "final_queue": "render.final",
            "escalation_ladder": [{"step": "guidance"}, {"step": "review"}],
        },
    )
    production, _ = Tier.objects.update_or_create(
        slug="production",
        defaults={
            "name": "Production",
            "preview_engine": engines["builtin-turbo"],
            "final_engine": engines["builtin-ultra"],
            "max_latency_ms": 2200,
            "auto_final": True,
            "max_attempts": 5,
            "daily_budget_usd": Decimal("200"),
            "fallback_engine": engines["builtin-turbo"],
            "hedge_previews": True,
            "preview_queue": "render.preview",
            "final_queue": "render.final",
            "degrade_to": preview,
            "degrade_at_percent": 90,
            "escalation_ladder": [
                {"step": "guidance"},
                {"step": "engine", "engine": "builtin-typography"},
                {"step": "composite"},
                {"step": "review"},
            ],
        },
    )
    for slug, tier, keep in [
        ("preview", preview, False),
        ("avatar", preview, False),
        ("editorial", production, False),
        ("paid", production, True),
    ]:
        AssetClass.objects.update_or_create(
            slug=slug, defaults={"name": slug.title(), "tier": tier, "must_not_degrade": keep}
        )
    for spec in TEMPLATES:
        Template.objects.update_or_create(slug=spec["slug"], defaults=spec)
    for spec in DEMO_ADAPTERS:
        Adapter.objects.update_or_create(slug=spec["slug"], defaults=spec)

    roles_sync()
    users = {}
    User = get_user_model()
    for username, role in [("editor", EDITOR), ("moderator", MODERATOR), ("admin", ADMIN)]:
        user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.invalid"})
        user.is_staff = user.is_superuser = role == ADMIN
        clear = password or secrets.token_urlsafe(9)
        user.set_password(clear)
        user.save()
        user.groups.set([Group.objects.get(name=role)])
        users[username] = clear
    return users
