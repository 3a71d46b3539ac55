"""Engine pages: permissions, create/edit with validation, health, the test button."""

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.engines.models import Engine, EngineCall
from tests.engines.conftest import engine_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    return client


def _form(**overrides):  # type: ignore[no-untyped-def]
    data = {
        "slug": "my-sd",
        "name": "My SD",
        "adapter": "stability",
        "model_id": "sd3.5-large-turbo",
        "base_url": "https://api.stability.ai",
        "api_key_env": "STABILITY_API_KEY",
        "price_usd": "0.04",
        "price_table": '{"1024x1024": {"standard": "0.04"}}',
        "connect_timeout_s": "5",
        "read_timeout_s": "60",
        "deadline_s": "90",
        "max_retries": "2",
        "concurrency_limit": "8",
        "params": "{}",
        "enabled": "on",
    }
    return {**data, **overrides}


def test_engine_list_forbidden_for_editor(client, editor):
    client.force_login(editor)

    assert client.get(reverse("engines:engine-list")).status_code == 403


def test_engine_list_shows_seeded_vendor_engines_with_one_query_per_page(admin_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        response = admin_client.get(reverse("engines:engine-list"))

    assert response.status_code == 200
    assert b"SD 3.5 Large Turbo" in response.content
    assert b"Imagen 4 Ultra" in response.content


def test_engine_create_saves_and_redirects(admin_client):
    response = admin_client.post(reverse("engines:engine-create"), _form())

    assert response.status_code == 302
    engine = Engine.objects.get(slug="my-sd")
    assert engine.price_table == {"1024x1024": {"standard": "0.04"}}
    assert engine.api_key_env == "STABILITY_API_KEY"
    assert engine.price_usd == Decimal("0.04")


def test_engine_create_rejects_internal_base_url(admin_client, settings):
    settings.RENDERHUB_ENGINE_HOST_ALLOWLIST = ["*"]

    response = admin_client.post(reverse("engines:engine-create"), _form(base_url="https://169.254.169.254/latest"))

    assert response.status_code == 200
    assert "is internal" in response.context["form"].errors["base_url"][0]
    assert not Engine.objects.filter(slug="my-sd").exists()


def test_engine_create_rejects_a_key_in_the_key_variable_field(admin_client):
    response = admin_client.post(reverse("engines:engine-create"), _form(api_key_env="sk-live-abc123"))

    assert "api_key_env" in response.context["form"].errors


def test_engine_create_rejects_bad_price_table(admin_client):
    response = admin_client.post(reverse("engines:engine-create"), _form(price_table='{"big": "cheap"}'))

    errors = response.context["form"].errors["price_table"]
    assert any("not a size" in e for e in errors)


def test_engine_edit_updates_timeouts(admin_client):
    engine = Engine.objects.get(slug="sd35-large-turbo")

    response = admin_client.post(
        reverse("engines:engine-edit", args=[engine.slug]),
        _form(slug=engine.slug, name=engine.name, deadline_s="33", concurrency_limit="3"),
    )

    assert response.status_code == 302
    engine.refresh_from_db()
    assert (engine.deadline_s, engine.concurrency_limit) == (33.0, 3)


def test_engine_detail_shows_health_from_recorded_calls(admin_client):
    from django.utils import timezone

    engine = Engine.objects.get(slug="sd35-large-turbo")
    now = timezone.now()
    for ms in (100, 200, 300, 400):
        EngineCall.objects.create(engine=engine, started_at=now, ok=True, latency_ms=ms)
    EngineCall.objects.create(
        engine=engine, started_at=now, ok=False, latency_ms=50, error_kind="refused", error="flagged by moderation"
    )

    response = admin_client.get(reverse("engines:engine-detail", args=[engine.slug]))

    health = response.context["health"]
    assert (health.calls, health.successes) == (5, 4)
    assert (health.p50_ms, health.p95_ms) == (200, 400)
    assert b"80 %" in response.content
    assert b"flagged by moderation" in response.content


def test_engine_detail_warns_about_retired_model(admin_client):
    response = admin_client.get(reverse("engines:engine-detail", args=["openai-dall-e-3"]))

    assert b"shut DALL\xc2\xb7E 3 down" in response.content


def test_engine_test_button_renders_an_image_without_js(admin_client, generic_fake):
    engine = engine_for("http", generic_fake.url + "/generate", api_key_env="")

    response = admin_client.post(reverse("engines:engine-test", args=[engine.slug]))

    assert response.status_code == 200
    assert b"<html" in response.content
    assert b'id="test-image" src="data:image/png;base64,' in response.content
    assert b"first_byte" in response.content
    assert EngineCall.objects.get(engine=engine).source == "test"


def test_engine_test_button_htmx_returns_the_panel_only(admin_client, generic_fake):
    engine = engine_for("http", generic_fake.url + "/generate", api_key_env="")
    generic_fake.faults = ["refuse"]

    response = admin_client.post(reverse("engines:engine-test", args=[engine.slug]), HTTP_HX_REQUEST="true")

    assert response.content.lstrip().startswith(b'<section class="card" id="engine-test">')
    assert b"prompt refused by policy" in response.content
    assert "HX-Request" in response["Vary"]


def test_engine_full_clean_names_the_field_for_importers():
    engine = Engine(slug="x", name="X", adapter="openai", base_url="http://10.0.0.5/v1", api_key_env="")

    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as info:
        engine.full_clean()

    assert set(info.value.message_dict) >= {"base_url", "api_key_env", "model_id"}


def test_engine_calls_prune_keeps_the_newest_rows():
    from datetime import timedelta

    from django.utils import timezone

    from apps.engines.services import engine_calls_prune

    engine = Engine.objects.get(slug="sd35-large-turbo")
    now = timezone.now()
    for i in range(10):
        EngineCall.objects.create(engine=engine, started_at=now - timedelta(seconds=i), ok=True, latency_ms=i)

    deleted = engine_calls_prune(engine=engine, keep=4)

    assert deleted == 6
    assert sorted(EngineCall.objects.filter(engine=engine).values_list("latency_ms", flat=True)) == [0, 1, 2, 3]


def test_engine_create_rejects_a_negative_base_price(admin_client):
    response = admin_client.post(reverse("engines:engine-create"), _form(price_usd="-1"))

    assert response.status_code == 200
    assert "The base price cannot be negative." in response.content.decode()
    assert not Engine.objects.filter(slug="my-sd").exists()


def test_engine_create_rejects_non_numeric_simulation_params(admin_client):
    """A string latency used to save, then broke every render and the test button (500)."""
    data = _form(adapter="builtin", model_id="", base_url="", api_key_env="", params='{"latency_p50_ms": "abc"}')

    response = admin_client.post(reverse("engines:engine-create"), data)

    assert response.status_code == 200
    assert "params.latency_p50_ms must be a non-negative number" in response.content.decode()
    assert not Engine.objects.filter(slug="my-sd").exists()


def test_engine_detail_test_button_of_the_null_engine_says_benchmark_not_vendor_bill(admin_client):
    """The null engine bills nobody and renders nothing: its test button said 'renders one
    512×512 image, billed by the vendor' (the template looked at is_simulation only)."""
    Engine.objects.create(slug="null-bench", name="Null bench", adapter="null", price_usd=Decimal("0"))

    page = admin_client.get(reverse("engines:engine-detail", args=["null-bench"])).content.decode()

    assert "Null bench (benchmark engine)" in page
    assert "returns its cached 512×512 grey image, priced $0" in page
    assert "billed by the vendor" not in page
