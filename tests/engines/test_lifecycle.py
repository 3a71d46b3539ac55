"""Engines a user can call today: seeded successors, retired models shown but not routable,
and the product's policy names mapped to the best current engine (vendor_seed.py)."""

import datetime

import pytest
from django.urls import reverse

from apps.engines import selectors
from apps.engines.models import Engine, EngineCall
from apps.engines.services import engine_generate
from apps.engines.types import EngineRequest, MisconfiguredError
from apps.engines.vendor_seed import vendor_engines_seed
from tests.engines.conftest import KEY_ENV, engine_for

pytestmark = pytest.mark.django_db
REQUEST = EngineRequest(prompt="a fox", seed=1, width=1024, height=1024)


def test_seed_has_the_current_successors():
    current = {e.slug: e for e in Engine.objects.filter(retired_on__isnull=True)}

    assert current["openai-gpt-image-2"].model_id == "gpt-image-2"
    assert current["gemini-3-1-flash-image"].adapter == "gemini"
    assert current["vertex-imagen4-ultra"].params["api"] == "vertex"
    assert "aiplatform.googleapis.com/v1/projects/" in current["vertex-imagen4-ultra"].base_url
    assert current["ideogram-v4"].params["api"] == "v4"
    assert current["ideogram-v3"].model_id == "V_3"
    assert current["sd35-large-turbo"].model_id == "sd3.5-large-turbo"


@pytest.mark.parametrize(
    ("slug", "retired_on"),
    [
        ("openai-dall-e-3", datetime.date(2026, 5, 12)),
        ("openai-gpt-image-1", datetime.date(2026, 10, 23)),
        ("openai-gpt-image-1-mini", datetime.date(2026, 12, 1)),
        ("imagen4-ultra", datetime.date(2026, 8, 17)),
    ],
)
def test_seed_keeps_retired_models_with_the_vendors_date(slug, retired_on):
    engine = Engine.objects.get(slug=slug)

    assert engine.retired_on == retired_on
    assert engine.lifecycle_note


def test_seed_marks_existing_rows_retired_and_disabled_without_touching_their_edits():
    Engine.objects.filter(slug="openai-dall-e-3").update(
        retired_on=None, lifecycle_note="", price_usd="0.05", enabled=True
    )

    vendor_engines_seed(Engine)

    engine = Engine.objects.get(slug="openai-dall-e-3")
    assert (engine.retired_on, str(engine.price_usd), engine.enabled) == (datetime.date(2026, 5, 12), "0.0500", False)


def test_retired_engine_is_refused_with_the_vendors_date_and_no_call(openai_fake):
    engine = engine_for(
        "openai",
        openai_fake.url + "/v1",
        model_id="dall-e-3",
        retired_on=datetime.date(2026, 5, 12),
        lifecycle_note="OpenAI shut DALL·E 3 down on 2026-05-12; successor gpt-image-2.",
    )

    with pytest.raises(MisconfiguredError, match="retired by its vendor on 2026-05-12") as info:
        engine_generate(engine=engine, request=REQUEST)

    assert "successor gpt-image-2" in info.value.message
    assert openai_fake.requests == []
    assert EngineCall.objects.get(engine=engine).error_kind == "misconfigured"


def test_engine_retiring_later_is_still_routable(openai_fake):
    engine = engine_for(
        "openai", openai_fake.url + "/v1", model_id="gpt-image-1-mini", retired_on=datetime.date(2999, 1, 1)
    )

    engine_generate(engine=engine, request=REQUEST)

    assert selectors.engine_unroutable_reason(engine=engine) == ""
    assert "will be retired" in engine.retirement_message


def test_unroutable_reason_names_the_retirement():
    engine = Engine.objects.get(slug="openai-gpt-image-1")

    reason = selectors.engine_unroutable_reason(engine=engine, today=datetime.date(2026, 11, 29))

    assert "retired by its vendor on 2026-10-23" in reason


def test_policy_name_imagen4_ultra_maps_to_vertex_when_it_is_enabled():
    Engine.objects.filter(slug="vertex-imagen4-ultra").update(enabled=True)

    match = selectors.engine_for_policy_name(name="imagen4_ultra")

    assert match is not None and match.engine is not None
    assert match.engine.slug == "vertex-imagen4-ultra"
    assert "Gemini API" in match.note


def test_policy_name_imagen4_ultra_falls_back_to_the_successor_never_the_retired_row():
    Engine.objects.filter(slug__in=["vertex-imagen4-ultra", "imagen4-ultra"]).update(enabled=True)
    Engine.objects.filter(slug="vertex-imagen4-ultra").update(enabled=False)
    Engine.objects.filter(slug="gemini-3-1-flash-image").update(enabled=True)

    match = selectors.engine_for_policy_name(name="imagen4_ultra")

    assert match is not None and match.engine is not None
    assert match.engine.slug == "gemini-3-1-flash-image"


def test_policy_name_sd35_turbo_maps_to_the_real_model_id_with_a_note():
    Engine.objects.filter(slug="sd35-large-turbo").update(enabled=True)

    match = selectors.engine_for_policy_name(name="sd3.5_turbo")

    assert match is not None and match.engine is not None
    assert match.engine.model_id == "sd3.5-large-turbo"
    assert "sd3.5-large-turbo" in match.note


def test_policy_name_with_nothing_routable_says_so():
    Engine.objects.filter(slug="openai-gpt-image-2").update(enabled=False)

    match = selectors.engine_for_policy_name(name="dalle3")

    assert match is not None
    assert (match.engine, match.candidates) == (None, ("openai-gpt-image-2",))
    assert selectors.engine_for_policy_name(name="no-such-model") is None


def test_engine_pages_show_the_retirement_date(client, admin_user):
    client.force_login(admin_user)

    listing = client.get(reverse("engines:engine-list")).content.decode()
    detail = client.get(reverse("engines:engine-detail", args=["openai-dall-e-3"])).content.decode()

    assert "retired 2026-05-12" in listing
    assert "retired by its vendor on 2026-05-12" in detail
    assert "successor gpt-image-2" in detail


def test_engine_page_flags_an_unpriced_vendor_engine(client, admin_user):
    client.force_login(admin_user)
    Engine.objects.filter(slug="sd35-medium").update(price_usd=0, price_table={})

    unpriced = client.get(reverse("engines:engine-detail", args=["sd35-medium"])).content.decode()
    token_priced = client.get(reverse("engines:engine-detail", args=["openai-gpt-image-2"])).content.decode()

    assert "priced unknown (flagged, never $0)" in unpriced
    assert "token usage" in token_priced


def test_engine_page_counts_calls_whose_price_turned_out_unknown(client, admin_user, openai_fake):
    # Priced by table and tokens, but this call came back through a proxy that zeroes the usage,
    # at a size (gpt-image-2 accepts any WxH ÷ 16) the table does not list: unknown, not $0.
    engine = Engine.objects.get(slug="openai-gpt-image-2")
    Engine.objects.filter(pk=engine.pk).update(base_url=openai_fake.url + "/v1", api_key_env=KEY_ENV, enabled=True)
    engine.refresh_from_db()
    openai_fake.faults = ["zero_usage"]
    engine_generate(engine=engine, request=EngineRequest(prompt="a fox", seed=1, width=2048, height=1152))
    engine_generate(engine=engine, request=REQUEST)  # 1024x1024 is in the table: priced
    client.force_login(admin_user)

    page = client.get(reverse("engines:engine-detail", args=["openai-gpt-image-2"])).content.decode()

    assert selectors.engine_health(engine=engine).unpriced_calls == 1
    assert "1 of the last 2 calls could not be priced" in page
    assert "price table has no entry for size 2048x1152" in page
