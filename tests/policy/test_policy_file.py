import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.engines.models import AdapterKind, Engine
from apps.policy import services as policy
from apps.policy.models import AssetClass, PolicyChange, Tier

PRODUCT_FILE = {
    "tiers": {
        "preview": {"model": "sd3.5_turbo", "max_latency_ms": 800},
        "production": {"model": "imagen4_ultra", "max_latency_ms": 2200},
    },
    "verify_ocr": True,
}


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def write(tmp_path, data) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_policy_import_product_file_maps_models_to_simulation_stand_ins(demo, tmp_path):
    Tier.objects.filter(slug="preview").update(max_latency_ms=500)

    out = run("policy", "import", write(tmp_path, PRODUCT_FILE))

    # The vendor engines exist (engines migration 0003) but are disabled without API keys.
    assert (
        "tiers.preview.model: engine 'sd35-large-turbo' serves 'sd3.5-large-turbo' but is disabled "
        "(STABILITY_API_KEY is not set); using the built-in simulation 'builtin-turbo' in its place" in out
    )
    assert "engine 'imagen4-ultra' serves 'imagen-4.0-ultra-generate-001' but is disabled" in out
    assert "using the built-in simulation 'builtin-ultra' in its place" in out
    production = Tier.objects.get(slug="production")
    assert production.final_engine.slug == "builtin-ultra"
    assert production.preview_engine.slug == "builtin-turbo"  # two-stage tier keeps its preview engine
    assert Tier.objects.get(slug="preview").final_engine.slug == "builtin-turbo"
    assert Tier.objects.get(slug="preview").max_latency_ms == 800
    change = PolicyChange.objects.get(kind="import", actor_name="cli")
    assert (
        change.before["tiers"]["preview"]["max_latency_ms"],
        change.after["tiers"]["preview"]["max_latency_ms"],
    ) == (
        500,
        800,
    )


def test_policy_import_product_file_prefers_a_real_engine_with_that_model(demo, tmp_path):
    Engine.objects.create(
        slug="imagen-ultra", name="Imagen 4 Ultra", adapter=AdapterKind.IMAGEN,
        model_id="imagen-4.0-ultra-generate-001", price_usd=Decimal("0.06"),
    )  # fmt: skip

    out = run("policy", "import", write(tmp_path, PRODUCT_FILE))

    assert "imagen-4.0-ultra" not in out
    assert Tier.objects.get(slug="production").final_engine.slug == "imagen-ultra"


def test_policy_import_uses_the_vendor_engine_once_it_is_enabled(demo, tmp_path):
    Engine.objects.filter(slug="imagen4-ultra").update(enabled=True)

    run("policy", "import", write(tmp_path, PRODUCT_FILE))

    assert Tier.objects.get(slug="production").final_engine.slug == "imagen4-ultra"


def test_policy_export_then_import_round_trips(demo, tmp_path):
    exported = json.loads(run("policy", "export"))
    exported["tiers"]["production"]["daily_budget_usd"] = "123.5"
    exported["asset_classes"]["banner"] = {"name": "Banner", "tier": "preview", "must_not_degrade": False}

    run("policy", "import", write(tmp_path, exported))

    again = json.loads(run("policy", "export"))
    assert again["tiers"]["production"]["daily_budget_usd"] == "123.5"
    assert again["asset_classes"]["banner"]["tier"] == "preview"
    assert again["engines"]["builtin-ultra"]["price_usd"] == "0.06"
    assert again["tiers"]["production"]["escalation_ladder"][1] == {"step": "engine", "engine": "builtin-typography"}


def test_policy_import_engines_with_prices_and_new_tier(demo, tmp_path):
    data = {
        "engines": {
            "ideogram-house": {
                "name": "Ideogram 3.0 (house key)",
                "adapter": "ideogram",
                "model": "V_3",
                "enabled": True,
                "base_url": "https://api.ideogram.ai",
                "api_key_env": "IDEOGRAM_API_KEY",
                "price_usd": "0.06",
                "price_table": {"1024x1024": {"turbo": "0.03", "quality": "0.09"}},
                "timeouts": {"connect_s": 5, "read_s": 60, "deadline_s": 90},
                "concurrency_limit": 4,
            }
        },
        "tiers": {
            "cover": {
                "model": "ideogram_v3",
                "daily_budget_usd": 25,
                "escalation_ladder": [{"step": "guidance"}, {"step": "composite"}, {"step": "review"}],
                "degrade_to": "preview",
            }
        },
        "asset_classes": {"cover": {"tier": "cover", "must_not_degrade": True}},
    }

    run("policy", "import", write(tmp_path, data))

    engine = Engine.objects.get(slug="ideogram-house")
    assert policy.engine_price(engine=engine, width=1024, height=1024, quality="quality") == Decimal("0.09")
    assert engine.deadline_s == 90.0
    cover = Tier.objects.get(slug="cover")
    assert (cover.preview_engine, cover.final_engine, cover.degrade_to.slug) == (engine, engine, "preview")
    assert cover.daily_budget_usd == Decimal("25")
    assert AssetClass.objects.get(slug="cover").must_not_degrade is True


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tiers": {"production": {"daily_budget_usd": -5}}}, "tiers.production.daily_budget_usd: cannot be negative"),
        ({"tiers": {"production": {"model": "dreamgen9"}}}, "tiers.production.model: unknown model 'dreamgen9'"),
        ({"tiers": {"night": {"max_latency_ms": 5000}}}, "tiers.night.model: a new tier needs engines"),
        (
            {"tiers": {"production": {"escalation_ladder": [{"step": "engine", "engine": "nope"}]}}},
            "tiers.production.escalation_ladder: Step 1: there is no engine 'nope'",
        ),
        ({"asset_classes": {"banner": {"tier": "ghost"}}}, "asset_classes.banner.tier: there is no tier 'ghost'"),
        ({"tiers": {"production": {"speed": "fast"}}}, "tiers.production.speed: unknown field"),
        ({"tiers": {"production": {"max_attempts": 0}}}, "tiers.production.max_attempts: must be at least 1"),
        ({"engines": {"x": {"adapter": "telepathy"}}}, "engines.x.adapter"),
        ({"tiers": {"production": {"preview_queue": "nowhere"}}}, "tiers.production.preview_queue: Queue 'nowhere'"),
    ],
)
def test_policy_import_refuses_bad_input_naming_the_field_and_imports_nothing(demo, tmp_path, data, message):
    # A good change before the bad one in the same file must not survive.
    data = {**data, "tiers": {"preview": {"max_latency_ms": 999}, **data.get("tiers", {})}}

    with pytest.raises(CommandError) as info:
        run("policy", "import", write(tmp_path, data))

    assert message in str(info.value)
    assert Tier.objects.get(slug="preview").max_latency_ms == 800
    assert not PolicyChange.objects.exists()


def test_policy_import_not_json_is_refused(demo, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{tiers: }")

    with pytest.raises(CommandError, match="not valid JSON"):
        run("policy", "import", str(path))


def test_budget_json_prints_limit_spent_reserved_per_tier(production):
    policy.admission_decide(tier=production, engine=None, width=768, height=512, asset_class="editorial", ref="a")
    policy.admission_decide(tier=production, engine=None, width=768, height=512, asset_class="editorial", ref="b")
    policy.budget_settle(ref="a", actual_usd=Decimal("0.07"))

    report = json.loads(run("budget", "--json"))

    assert report["timezone"] == "UTC"
    assert report["tiers"]["production"] == {
        "limit_usd": "200.0000",
        "spent_usd": "0.0700",
        "reserved_usd": "0.1000",
        "available_usd": "199.8300",
    }
    assert report["tiers"]["preview"]["spent_usd"] == "0"


def test_policy_import_product_file_without_any_engine_says_what_is_missing(db, tmp_path):
    Engine.objects.all().delete()

    with pytest.raises(CommandError) as info:
        run("policy", "import", write(tmp_path, PRODUCT_FILE))

    assert "tiers.preview.model: no engine serves 'sd3.5-large-turbo'" in str(info.value)
    assert "'builtin-turbo'" in str(info.value) and "not installed" in str(info.value)


def test_policy_import_team_budgets_and_budget_json_shows_them(production, tmp_path):
    run("policy", "import", write(tmp_path, {"tiers": {"production": {"team_budgets": {"design": 20}}}}))
    policy.admission_decide(
        tier=production, engine=None, width=768, height=512, asset_class="editorial", ref="a", team="design"
    )

    report = json.loads(run("budget", "--json"))

    assert report["tiers"]["production"]["teams"]["design"] == {
        "limit_usd": "20.0000",
        "spent_usd": "0.0000",
        "reserved_usd": "0.1000",
        "available_usd": "19.9000",
    }
    assert json.loads(run("policy", "export"))["tiers"]["production"]["team_budgets"] == {"design": "20"}


def test_policy_import_negative_team_budget_is_refused(production, tmp_path):
    with pytest.raises(CommandError, match=r"tiers\.production\.team_budgets\.design: cannot be negative"):
        run("policy", "import", write(tmp_path, {"tiers": {"production": {"team_budgets": {"design": -1}}}}))
