"""Adapters as data: attaching one to a template writes its history; the pages show both."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.catalog.models import Adapter, Template, TemplateAdapterChange
from apps.catalog.selectors import template_adapter_at
from apps.catalog.services import template_set_adapter
from apps.engines.models import AdapterKind, Engine


@pytest.fixture
def adapter(db):  # type: ignore[no-untyped-def]
    return Adapter.objects.create(
        slug="cover-v1", name="Cover v1", base_model="sd_xl_base_1.0", reference="cover_v1.safetensors"
    )


@pytest.fixture
def template(db):  # type: ignore[no-untyped-def]
    return Template.objects.create(
        slug="cover", name="Cover", prompt_template="A cover titled {title}", slots=[{"name": "title"}]
    )


def test_template_set_adapter_writes_a_history_row_with_who_and_when(template, adapter, admin_user):
    change = template_set_adapter(template=template, adapter=adapter, strength=0.7, by=admin_user, note="trial")

    template.refresh_from_db()
    assert (template.adapter, template.adapter_strength, template.effective_adapter_strength) == (adapter, 0.7, 0.7)
    assert change is not None
    assert (change.adapter, change.strength, change.changed_by, change.note) == (adapter, 0.7, admin_user, "trial")


def test_template_set_adapter_unchanged_writes_nothing(template, adapter, admin_user):
    template_set_adapter(template=template, adapter=adapter, strength=None, by=admin_user)

    again = template_set_adapter(template=template, adapter=adapter, strength=None, by=admin_user)

    assert again is None
    assert TemplateAdapterChange.objects.count() == 1


def test_template_adapter_at_answers_which_was_active_when(template, adapter, admin_user):
    first = template_set_adapter(template=template, adapter=adapter, strength=None, by=admin_user)
    removed = template_set_adapter(template=template, adapter=None, strength=0.5, by=admin_user)
    assert first is not None and removed is not None

    assert template_adapter_at(template=template, when=first.changed_at) == first
    assert template_adapter_at(template=template, when=removed.changed_at).adapter is None  # type: ignore[union-attr]
    assert removed.strength is None  # no strength without an adapter
    assert template.effective_adapter_strength is None


@pytest.mark.django_db(transaction=True)
def test_migration_moves_adapter_ref_onto_adapters_and_back():
    executor = MigrationExecutor(connection)
    executor.migrate([("catalog", "0001_initial")])
    old = executor.loader.project_state([("catalog", "0001_initial")]).apps
    OldTemplate = old.get_model("catalog", "Template")
    for slug, ref in [("a", "loras/cover_v2.safetensors"), ("b", "loras/cover_v2.safetensors"), ("c", "")]:
        OldTemplate.objects.create(slug=slug, name=slug, prompt_template="p", adapter_ref=ref)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    by_slug = {t.slug: t for t in Template.objects.select_related("adapter")}
    assert by_slug["a"].adapter == by_slug["b"].adapter  # one Adapter per reference
    assert by_slug["a"].adapter.reference == "loras/cover_v2.safetensors"  # type: ignore[union-attr]
    assert by_slug["a"].adapter.slug == "cover_v2"  # type: ignore[union-attr]
    assert by_slug["c"].adapter is None
    assert TemplateAdapterChange.objects.filter(note="Migrated from adapter_ref.").count() == 2

    executor = MigrationExecutor(connection)
    executor.migrate([("catalog", "0001_initial")])
    back = executor.loader.project_state([("catalog", "0001_initial")]).apps.get_model("catalog", "Template")
    assert dict(back.objects.values_list("slug", "adapter_ref")) == {
        "a": "loras/cover_v2.safetensors",
        "b": "loras/cover_v2.safetensors",
        "c": "",
    }
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_template_page_shows_active_adapter_history_and_engines_that_drop_it(client, template, adapter, admin_user):
    Engine.objects.create(slug="comfy", name="ComfyUI box", adapter=AdapterKind.COMFYUI, base_url="http://127.0.0.1:1")
    Engine.objects.create(slug="gpt", name="GPT image", adapter=AdapterKind.OPENAI)
    template_set_adapter(template=template, adapter=adapter, strength=None, by=admin_user, note="first try")
    client.force_login(admin_user)

    page = client.get(f"/templates/{template.slug}/").content.decode()

    assert "Cover v1" in page and "cover_v1.safetensors" in page
    assert 'id="adapter-not-applied"' in page
    banner = page.split('id="adapter-not-applied"')[1].split("</p>")[0]
    assert "GPT image" in banner and "ComfyUI box" not in banner
    history = page.split('id="adapter-history"')[1]
    assert "first try" in history and admin_user.username in history


def test_template_page_attaches_an_adapter_by_post(client, template, adapter, admin_user):
    client.force_login(admin_user)

    response = client.post(
        f"/templates/{template.slug}/adapter/", {"adapter": adapter.pk, "strength": "0.8", "note": "from the page"}
    )

    assert response.status_code == 302
    template.refresh_from_db()
    assert (template.adapter_id, template.adapter_strength) == (adapter.pk, 0.8)
    assert TemplateAdapterChange.objects.get().changed_by == admin_user


def test_template_page_refuses_a_strength_out_of_range(client, template, adapter, admin_user):
    client.force_login(admin_user)

    response = client.post(f"/templates/{template.slug}/adapter/", {"adapter": adapter.pk, "strength": "7"})

    assert response.status_code == 200
    assert "less than or equal to 2" in response.content.decode()
    template.refresh_from_db()
    assert template.adapter is None


def test_adapter_pages_create_an_adapter(client, admin_user):
    client.force_login(admin_user)

    response = client.post(
        "/templates/adapters/new/",
        {
            "name": "Menu LoRA",
            "slug": "menu-lora",
            "base_model": "flux1-dev",
            "reference": "menu_v3.safetensors",
            "default_strength": "0.9",
            "notes": "",
        },
    )

    assert response.status_code == 302
    assert Adapter.objects.get(slug="menu-lora").default_strength == 0.9
    assert "menu_v3.safetensors" in client.get("/templates/adapters/").content.decode()


def test_template_pages_are_for_admins(client, template, editor):
    client.force_login(editor)

    assert client.get(f"/templates/{template.slug}/").status_code == 403
    assert client.post("/templates/adapters/new/", {}).status_code == 403


def test_template_page_flags_an_engine_running_another_base_model(client, template, adapter, admin_user):
    Engine.objects.create(
        slug="sdxl", name="SDXL box", adapter=AdapterKind.COMFYUI, model_id="sd_xl_base_1.0.safetensors"
    )
    Engine.objects.create(slug="flux", name="Flux box", adapter=AdapterKind.COMFYUI, model_id="flux1-dev.safetensors")
    template_set_adapter(template=template, adapter=adapter, strength=None, by=admin_user)
    client.force_login(admin_user)

    page = client.get(f"/templates/{template.slug}/").content.decode()

    notes = [chunk.split("</small>")[0] for chunk in page.split('class="error base-model-note">')[1:]]
    assert notes == ["Base model differs: runs flux1-dev.safetensors; Cover v1 was trained on sd_xl_base_1.0"]
