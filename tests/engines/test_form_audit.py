"""The engine form: empty means empty, every number checked against its stated range, and
engine and template edits in the audit log with before/after."""

import json
import os
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect, sync_playwright

from apps.catalog.models import Template
from apps.engines.models import Engine
from tests.conftest import PASSWORD
from tests.e2e.test_editor_browser import CHROMIUM, CHROMIUM_ARGS
from tests.factories import UserFactory

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
SHOTS = Path("/tmp/shots/admin-pages")


@pytest.fixture
def admin_client(client, admin_user):  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    return client


def _builtin(**overrides):  # type: ignore[no-untyped-def]
    data = {
        "slug": "sim-x",
        "name": "Sim X",
        "adapter": "builtin",
        "price_usd": "0.01",
        "price_table": "",
        "connect_timeout_s": "5",
        "read_timeout_s": "60",
        "deadline_s": "90",
        "max_retries": "2",
        "concurrency_limit": "8",
        "params": "",
        "enabled": "on",
    }
    return {**data, **overrides}


@pytest.mark.django_db
def test_engine_create_form_prefills_no_null_and_states_ranges(admin_client):
    body = admin_client.get(reverse("engines:engine-create")).content.decode()

    # No JSON null pre-filled anywhere (the `null` benchmark engine kind is a legitimate option).
    assert "null" not in body.replace('<option value="null">', "")
    assert 'id="id_price_table">\n</textarea>' in body
    assert 'id="id_params">\n</textarea>' in body
    assert "typo_rate 0–1; tail_prob 0–1" in body
    assert 'min="0.1" max="600"' in body  # read timeout
    assert "Range 0–10." in body  # max retries


@pytest.mark.django_db
def test_engine_create_with_empty_tables_saves_empty_objects(admin_client):
    response = admin_client.post(reverse("engines:engine-create"), _builtin())

    engine = Engine.objects.get(slug="sim-x")
    assert response.status_code == 302
    assert (engine.price_table, engine.params) == ({}, {})


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"params": '{"typo_rate": 1.7}'}, "params.typo_rate must be within 0–1 (got 1.7)."),
        ({"params": '{"tail_prob": -0.1}'}, "params.tail_prob must be a non-negative number (got -0.1); range 0–1."),
        ({"params": '{"backoff_base_s": 500}'}, "params.backoff_base_s must be within 0–60 (got 500)."),
        ({"read_timeout_s": "9000"}, "Must be within 0.1–600 (got 9000)."),
        ({"max_retries": "50"}, "Must be within 0–10 (got 50)."),
        ({"concurrency_limit": "100000"}, "Must be within 0–1000 (got 100000)."),
    ],
)
def test_engine_create_refuses_numbers_out_of_range(admin_client, overrides, message):
    response = admin_client.post(reverse("engines:engine-create"), _builtin(**overrides))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Engine.objects.filter(slug="sim-x").exists()


@pytest.mark.django_db
def test_engine_edit_writes_before_and_after_to_the_audit_log(admin_client, admin_user):
    from apps.core.models import ConfigChange  # not on main: imported here

    admin_client.post(reverse("engines:engine-create"), _builtin(params='{"typo_rate": 0.1}'))

    admin_client.post(reverse("engines:engine-edit", args=["sim-x"]), _builtin(params='{"typo_rate": 0.2}'))
    page = admin_client.get(reverse("policy:audit-log")).content.decode()

    created, edited = ConfigChange.objects.order_by("created_at", "pk")
    assert (created.kind, created.object_slug, created.before) == ("engine", "sim-x", None)
    assert (edited.actor, edited.before["params"], edited.after["params"]) == (
        admin_user,
        {"typo_rate": 0.1},
        {"typo_rate": 0.2},
    )
    assert edited.after["price_usd"] == "0.0100"
    assert "engine sim-x" in page
    assert "params.typo_rate: 0.1 → 0.2" in page


@pytest.mark.django_db
def test_engine_edit_that_changes_nothing_writes_no_audit_row(admin_client):
    from apps.core.models import ConfigChange  # not on main: imported here

    admin_client.post(reverse("engines:engine-create"), _builtin())

    admin_client.post(reverse("engines:engine-edit", args=["sim-x"]), _builtin())

    assert ConfigChange.objects.count() == 1  # the creation only


@pytest.mark.django_db
def test_template_edit_in_django_admin_writes_before_and_after(client, demo):
    from apps.core.models import ConfigChange  # not on main: imported here

    superuser = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(superuser)
    template = Template.objects.get(slug="editorial-cover")
    change_url = reverse("admin:catalog_template_change", args=[template.pk])
    page = client.get(change_url).context
    form = page["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    for inline in page["inline_admin_formsets"]:  # the adapter history (read-only rows)
        formset = inline.formset
        data.update({f"{formset.prefix}-{k}": v for k, v in formset.management_form.initial.items()})
        for row in formset.forms:
            data.update({row.add_prefix(f.name): f.value() for f in row.hidden_fields() if f.value() is not None})
    data.update({f: form[f].value() for f in form.fields})
    for name, value in list(data.items()):
        if isinstance(value, (dict, list)):
            data[name] = json.dumps(value)
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
            else:
                data.pop(name)
    data["name"] = "Editorial cover (new look)"

    response = client.post(change_url, data)

    change = ConfigChange.objects.get(kind="template")
    assert response.status_code == 302, response.content.decode()[:2000]
    assert (change.object_slug, change.before["name"], change.after["name"]) == (
        "editorial-cover",
        template.name,
        "Editorial cover (new look)",
    )


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_admin_fixes_a_typo_rate_and_finds_the_edit_in_the_audit_log_in_a_browser(live_server, demo, admin_user):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1400})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live_server.url}/accounts/login/?next=/engines/new/")
        page.fill("#id_username", admin_user.username)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url("**/engines/new/")
        price_table, params = page.input_value("#id_price_table"), page.input_value("#id_params")
        page.fill("#id_slug", "sim-typo")
        page.fill("#id_name", "Sim typo")
        page.select_option("#id_adapter", "builtin")
        page.fill("#id_params", '{"typo_rate": 1.7}')
        page.click("main button[type=submit]")
        expect(page.locator("main")).to_contain_text("params.typo_rate must be within 0–1 (got 1.7).")
        page.screenshot(path=str(SHOTS / "engine-form-refused.png"), full_page=True)
        page.fill("#id_params", '{"typo_rate": 0.17}')
        page.click("main button[type=submit]")
        page.wait_for_url("**/engines/sim-typo/")
        page.goto(f"{live_server.url}/engines/sim-typo/edit/")
        page.fill("#id_params", '{"typo_rate": 0.05}')
        page.click("main button[type=submit]")
        page.wait_for_url("**/engines/sim-typo/")
        page.goto(f"{live_server.url}/policy/audit/")
        expect(page.locator("table.audit")).to_contain_text("params.typo_rate: 0.17 → 0.05")
        page.screenshot(path=str(SHOTS / "audit-log-engine-edit.png"), full_page=True)
        browser.close()

    assert (price_table, params) == ("", "")
    assert Engine.objects.get(slug="sim-typo").params == {"typo_rate": 0.05}
    assert errors == []
