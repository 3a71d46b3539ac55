"""What a call cost, from what was billed: `pricing.price_attempt(engine, billing)`.

Engines are built from the seeded vendor specs (vendor_seed.py) so the prices under test are
the ones RenderHub ships; calls go through the adapters against the vendor fakes.
"""

from decimal import Decimal
from typing import Any

import pytest

from apps.engines.models import Engine
from apps.engines.pricing import Price, price_attempt
from apps.engines.services import engine_generate
from apps.engines.types import Billing, EngineRequest, RefusedError, TokenUsage
from apps.engines.vendor_seed import VENDOR_ENGINES
from tests.engines.conftest import FAST_PARAMS, KEY_ENV, engine_for


def seeded(slug: str, **overrides: Any) -> Engine:
    """The seeded vendor engine `slug`, unsaved, with the fakes' key and quick backoff."""
    spec = next(s for s in VENDOR_ENGINES if s["slug"] == slug)
    fields = {k: v for k, v in spec.items() if k not in ("retired_on", "lifecycle_note")}
    fields["params"] = {**spec.get("params", {}), **FAST_PARAMS}
    return Engine(**{**fields, "api_key_env": KEY_ENV, "enabled": True, **overrides})


def request(width: int = 1024, height: int = 1024, **extra: Any) -> EngineRequest:
    return EngineRequest(prompt="a lighthouse", seed=5, width=width, height=height, extra=extra)


# --- the examples, through the adapter ---------------------------------------------


def test_price_gpt_image_1_blank_tier_quality_is_priced_at_the_medium_it_sent(db, openai_fake):
    engine = seeded("openai-gpt-image-1", base_url=openai_fake.url + "/v1")
    openai_fake.faults = ["zero_usage"]  # no usable usage: the table decides

    result = engine_generate(engine=engine, request=request(quality=""))

    assert openai_fake.generation_requests()[0].json()["quality"] == "medium"
    assert (result.billing.quality, result.billing.size) == ("medium", "1024x1024")
    assert price_attempt(engine, result.billing).usd == Decimal("0.042")


def test_price_dalle_3_wide_canvas_is_priced_at_the_1792_size_it_sent(db, openai_fake):
    engine = seeded("openai-dall-e-3", base_url=openai_fake.url + "/v1")

    result = engine_generate(engine=engine, request=request(width=1600, height=900, quality=""))

    assert (result.billing.size, result.billing.quality) == ("1792x1024", "standard")
    assert price_attempt(engine, result.billing) == Price(
        usd=Decimal("0.08"), source="table", detail="price table 1792x1024 / standard"
    )


def test_price_all_zero_usage_from_a_proxy_falls_back_to_the_table(db, openai_fake):
    engine = seeded("openai-gpt-image-1", base_url=openai_fake.url + "/v1")
    openai_fake.faults = ["zero_usage"]

    result = engine_generate(engine=engine, request=request(quality="high"))
    price = price_attempt(engine, result.billing)

    assert result.billing.usage is not None and result.billing.usage.output_tokens == 0
    assert (price.usd, price.source) == (Decimal("0.167"), "table")
    assert "not plausible" in price.detail


def test_price_plausible_usage_is_priced_from_the_tokens(db, openai_fake):
    engine = seeded("openai-gpt-image-1", base_url=openai_fake.url + "/v1")

    result = engine_generate(engine=engine, request=request())
    price = price_attempt(engine, result.billing)

    # 1056 image output tokens × $40/1M + 44 text input tokens × $5/1M
    assert (price.usd, price.source) == (Decimal("0.042460"), "usage")
    assert result.billing.usage_raw["output_tokens"] == 1056


def test_price_gpt_image_2_usage_at_its_own_token_rates(db, openai_fake):
    engine = seeded("openai-gpt-image-2", base_url=openai_fake.url + "/v1")

    result = engine_generate(engine=engine, request=request())

    # 1056 × $30/1M + 44 × $5/1M
    assert price_attempt(engine, result.billing) == Price(
        usd=Decimal("0.031900"), source="usage", detail="1056 output tokens"
    )


def test_price_auto_quality_is_billed_at_the_quality_the_vendor_reports(db, openai_fake):
    engine = seeded("openai-gpt-image-1", base_url=openai_fake.url + "/v1")
    openai_fake.faults = ["zero_usage"]

    result = engine_generate(engine=engine, request=request(quality="auto"))

    assert openai_fake.generation_requests()[0].json()["quality"] == "auto"
    assert result.billing.quality == "high"
    assert price_attempt(engine, result.billing).usd == Decimal("0.167")


def test_price_gemini_flash_image_from_usage_metadata_and_table_without(db, gemini_fake):
    engine = seeded("gemini-3-1-flash-image", base_url=gemini_fake.url)

    priced = price_attempt(engine, engine_generate(engine=engine, request=request()).billing)
    gemini_fake.faults = ["zero_usage"]
    fallback = price_attempt(engine, engine_generate(engine=engine, request=request()).billing)

    # 1120 image tokens × $60/1M + 12 prompt tokens × $0.50/1M
    assert (priced.usd, priced.source) == (Decimal("0.067206"), "usage")
    assert (fallback.usd, fallback.source) == (Decimal("0.067"), "table")


def test_price_ideogram_v4_turbo_from_the_speed_it_sent(db, ideogram_fake):
    engine = seeded("ideogram-v4-turbo", base_url=ideogram_fake.url)

    result = engine_generate(engine=engine, request=request())

    assert (result.billing.size, result.billing.quality) == ("2048x2048", "TURBO")
    assert price_attempt(engine, result.billing).usd == Decimal("0.03")


def test_price_ideogram_unsafe_image_carries_its_billing(db, ideogram_fake):
    engine = seeded("ideogram-v3", base_url=ideogram_fake.url)
    ideogram_fake.faults = ["unsafe"]

    with pytest.raises(RefusedError) as info:
        engine_generate(engine=engine, request=request())

    assert price_attempt(engine, info.value.billing).usd == Decimal("0.06")


@pytest.mark.parametrize(
    ("slug", "usd"),
    [("vertex-imagen4-ultra", "0.06"), ("sd35-large-turbo", "0.04")],
)
def test_price_flat_priced_vendors_use_the_price_per_image(db, imagen_fake, stability_fake, slug, usd):
    base = imagen_fake.url + "/v1/projects/p/locations/l" if "imagen" in slug else stability_fake.url
    engine = seeded(slug, base_url=base)

    result = engine_generate(engine=engine, request=request())

    assert price_attempt(engine, result.billing) == Price(
        usd=Decimal(usd), source="table", detail="flat price per image"
    )


# --- the rules, on their own --------------------------------------------------------------


def test_price_missing_quality_is_unknown_not_the_cheapest_entry():
    engine = seeded("openai-gpt-image-1")

    price = price_attempt(engine, Billing(model="gpt-image-1", size="1024x1024", quality=""))

    assert (price.usd, price.source) == (None, "unknown")


def test_price_vendor_engine_without_a_price_is_unknown_never_zero():
    engine = Engine(slug="x", adapter="stability", price_usd=Decimal("0"), price_table={}, params={})

    price = price_attempt(engine, Billing(model="sd3.5-large", size="1:1"))

    assert (price.usd, price.source) == (None, "unknown")


def test_price_self_hosted_or_simulated_engine_may_cost_a_configured_zero():
    comfy = Engine(slug="x", adapter="comfyui", price_usd=Decimal("0"), price_table={}, params={})
    simulated = Engine(slug="y", adapter="http", price_usd=Decimal("0"), price_table={}, is_simulation=True)

    assert price_attempt(comfy, Billing(model="sd15", size="512x512")).usd == Decimal("0")
    assert price_attempt(simulated, Billing(model="", size="512x512")).source == "table"


def test_price_size_outside_a_table_is_unknown():
    engine = seeded("openai-gpt-image-2")

    price = price_attempt(engine, Billing(model="gpt-image-2", size="2048x1152", quality="medium"))

    assert price.source == "unknown"


def test_price_usage_with_negative_or_inflated_counts_is_not_believed():
    engine = seeded("openai-gpt-image-1")
    bogus = TokenUsage(input_tokens=10, output_tokens=5_000_000, total_tokens=5_000_010)

    price = price_attempt(engine, Billing(model="gpt-image-1", size="1024x1024", quality="low", usage=bogus))

    assert (price.usd, price.source) == (Decimal("0.011"), "table")


def test_price_n_images_multiplies_the_table_price():
    engine = seeded("openai-dall-e-3")

    price = price_attempt(engine, Billing(model="dall-e-3", size="1024x1024", quality="hd", n=2))

    assert price.usd == Decimal("0.16")


def test_billing_round_trips_through_json():
    billing = Billing(
        model="gpt-image-2",
        size="1024x1024",
        quality="medium",
        usage=TokenUsage(input_tokens=4, input_text_tokens=4, output_tokens=9, total_tokens=13),
        usage_raw={"output_tokens": 9},
        pixels="1024x1024",
    )

    assert Billing.from_json(billing.as_json()) == billing


def test_price_generic_http_adapter_reports_the_size_it_sent(db, generic_fake):
    """The generic protocol reports its billing too (model, size sent)."""
    engine = engine_for("http", generic_fake.url + "/generate", api_key_env="")

    result = engine_generate(engine=engine, request=request(width=640, height=480))

    assert (result.billing.size, result.billing.pixels) == ("640x480", "640x480")


# --- one worked example per adapter (the closing note of issue 9 quotes these lines) --------

VERTEX_BASE = "/v1/projects/p/locations/l"
# id → (fake fixture, engine builder(fake url), canvas, fake faults,
#       expected billing (model, size, quality, n), expected (USD, price source))
WORKED: dict[str, tuple[str, Any, tuple[int, int], list[str], tuple[str, str, str, int], tuple[str, str]]] = {
    "openai gpt-image-2 (usage)": (
        "openai_fake",
        lambda url: seeded("openai-gpt-image-2", base_url=url + "/v1"),
        (1024, 1024),
        [],
        ("gpt-image-2", "1024x1024", "medium", 1),
        ("0.031900", "usage"),
    ),
    "openai gpt-image-2 (proxy zero usage)": (
        "openai_fake",
        lambda url: seeded("openai-gpt-image-2", base_url=url + "/v1"),
        (1024, 1024),
        ["zero_usage"],
        ("gpt-image-2", "1024x1024", "medium", 1),
        ("0.053", "table"),
    ),
    "openai dall-e-3 (legacy)": (
        "openai_fake",
        lambda url: seeded("openai-dall-e-3", base_url=url + "/v1"),
        (1600, 900),
        [],
        ("dall-e-3", "1792x1024", "standard", 1),
        ("0.08", "table"),
    ),
    "openai gpt-image-1 (legacy)": (
        "openai_fake",
        lambda url: seeded("openai-gpt-image-1", base_url=url + "/v1"),
        (1024, 1024),
        [],
        ("gpt-image-1", "1024x1024", "medium", 1),
        ("0.042460", "usage"),
    ),
    "imagen 4 ultra on vertex": (
        "imagen_fake",
        lambda url: seeded("vertex-imagen4-ultra", base_url=url + VERTEX_BASE),
        (1024, 1024),
        [],
        ("imagen-4.0-ultra-generate-001", "1:1", "1K", 1),
        ("0.06", "table"),
    ),
    "gemini 3.1 flash image": (
        "gemini_fake",
        lambda url: seeded("gemini-3-1-flash-image", base_url=url),
        (1024, 1024),
        [],
        ("gemini-3.1-flash-image", "1:1", "1K", 1),
        ("0.067206", "usage"),
    ),
    "ideogram 3.0": (
        "ideogram_fake",
        lambda url: seeded("ideogram-v3", base_url=url),
        (1024, 1024),
        [],
        ("V_3", "1x1", "DEFAULT", 1),
        ("0.06", "table"),
    ),
    "ideogram 4.0 turbo": (
        "ideogram_fake",
        lambda url: seeded("ideogram-v4-turbo", base_url=url),
        (1024, 1024),
        [],
        ("V_4", "2048x2048", "TURBO", 1),
        ("0.03", "table"),
    ),
    "stability sd3.5 large turbo": (
        "stability_fake",
        lambda url: seeded("sd35-large-turbo", base_url=url),
        (1024, 1024),
        [],
        ("sd3.5-large-turbo", "1:1", "", 1),
        ("0.04", "table"),
    ),
    "comfyui (self-hosted, $0 configured)": (
        "comfyui_fake",
        lambda url: engine_for(
            "comfyui",
            url,
            save=False,
            model_id="sd_xl_base_1.0.safetensors",
            api_key_env="",
            price_usd=Decimal("0"),
            params={"poll_interval_s": 0.02},
        ),
        (1024, 1024),
        [],
        ("sd_xl_base_1.0.safetensors", "1024x1024", "", 1),
        ("0", "table"),
    ),
    "generic http": (
        "generic_fake",
        lambda url: engine_for("http", url + "/generate", save=False, model_id="house-model", api_key_env=""),
        (640, 480),
        [],
        ("house-model", "640x480", "", 1),
        ("0.04", "table"),
    ),
    "builtin simulation (builtin-turbo)": (
        "",
        lambda url: Engine(
            slug="builtin-turbo", adapter="builtin", model_id="builtin-turbo-sim", price_usd=Decimal("0.04")
        ),
        (512, 512),
        [],
        ("builtin-turbo-sim", "512x512", "", 1),
        ("0.04", "table"),
    ),
}


@pytest.mark.parametrize("case", list(WORKED))
def test_price_worked_example_per_adapter(db, request, settings, case):
    """Each adapter against its vendor-exact fake (the builtin in-process): the units it sent
    and the price booked for them, with its source."""
    fixture, build, (width, height), faults, billed, (usd, source) = WORKED[case]
    settings.RENDERHUB_BUILTIN_LATENCY_SCALE = 0
    fake = request.getfixturevalue(fixture) if fixture else None
    if fake is not None:
        fake.faults = list(faults)
    engine = build(fake.url if fake is not None else "")

    result = engine_generate(engine=engine, request=request_for(width, height))
    price = price_attempt(engine, result.billing)

    billing = result.billing
    assert (billing.model, billing.size, billing.quality, billing.n) == billed
    assert (price.usd, price.source) == (Decimal(usd), source)
    usage = billing.usage.as_json() if billing.usage else None
    print(f"\n{case}: sent {billed} usage={usage} -> ${price.usd} [{price.source}: {price.detail}]")


def request_for(width: int, height: int) -> EngineRequest:
    return request(width=width, height=height, quality="")
