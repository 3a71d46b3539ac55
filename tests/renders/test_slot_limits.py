"""A title longer than its slot's limit is refused with a message, never cut."""

import json
import os

import pytest
from django.urls import reverse
from playwright.sync_api import expect, sync_playwright

from apps.accounts.services import api_token_create
from apps.catalog.models import Template
from apps.renders.models import RenderJob
from tests.conftest import PASSWORD
from tests.e2e.test_editor_browser import CHROMIUM, CHROMIUM_ARGS

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.mark.django_db
def test_slot_field_has_no_maxlength_so_the_browser_cannot_cut_it(client, demo, editor):
    thumb = Template.objects.get(slug="product-thumbnail")
    client.force_login(editor)

    body = client.get(reverse("renders:job-new"), {"template": thumb.pk}).content.decode()

    assert 'data-max-length="12"' in body
    assert 'maxlength="12"' not in body


@pytest.mark.django_db
def test_over_long_slot_text_is_refused_naming_the_slot_and_kept(client, demo, editor):
    thumb = Template.objects.get(slug="product-thumbnail")
    client.force_login(editor)

    response = client.post(reverse("renders:job-new"), {"template": thumb.pk, "text_overlay": "BACK IN STOCK"})

    body = response.content.decode()
    assert response.status_code == 200
    assert "Overlay word takes at most 12 characters; this text has 13." in body
    assert 'value="BACK IN STOCK"' in body


@pytest.mark.django_db
def test_api_refuses_an_over_long_slot_with_its_limit(client, demo, editor):
    token = api_token_create(user=editor)

    response = client.post(
        "/api/v1/renders",
        json.dumps({"template": "product-thumbnail", "texts": {"overlay": "BACK IN STOCK"}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert response.status_code == 400
    assert response.json()["field"] == "overlay"
    assert "at most 12 characters; this text has 13" in response.json()["error"]


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_slot_counter_counts_live_and_the_typed_title_is_not_cut_in_a_browser(live_server, demo, editor):
    thumb = Template.objects.get(slug="product-thumbnail")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{live_server.url}/accounts/login/?next=/renders/new/")
        page.fill("#id_username", editor.username)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url("**/renders/new/")
        page.select_option("#id_template", str(thumb.pk))
        field = page.locator("#id_text_overlay")
        expect(field).to_be_visible()
        field.type("BACK IN STOCK")
        typed = field.input_value()
        counter = page.locator("#slot-fields .slot-counter").inner_text()
        over = "over" in (page.locator("#slot-fields .slot-counter").get_attribute("class") or "")
        page.click("#new-render button[type=submit]")
        page.wait_for_load_state()
        error = page.locator("#slot-fields .error").inner_text()
        kept = page.locator("#id_text_overlay").input_value()
        browser.close()

    assert typed == "BACK IN STOCK"
    assert counter == "13 / 12 — too long by 1"
    assert over
    assert "Overlay word takes at most 12 characters" in error
    assert kept == "BACK IN STOCK"


@pytest.mark.django_db
def test_switching_template_without_javascript_keeps_what_was_typed(client, demo, editor):
    cover = Template.objects.get(slug="editorial-cover")
    thumb = Template.objects.get(slug="product-thumbnail")
    client.force_login(editor)

    response = client.post(
        reverse("renders:job-new"),
        {"template": thumb.pk, "switch": "1", "text_title": "Spring Sale", "seed": "42", "size": "1024x1024"},
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_text_overlay"' in body  # the new template's field
    assert 'name="seed" value="42"' in body
    assert not RenderJob.objects.exists()
    # Back to the cover: its title comes back as typed.
    back = client.post(reverse("renders:job-new"), {"template": cover.pk, "switch": "1", "text_title": "Spring Sale"})
    assert 'value="Spring Sale"' in back.content.decode()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_template_switch_keeps_typed_text_with_javascript_off(live_server, demo, editor):
    thumb = Template.objects.get(slug="product-thumbnail")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(java_script_enabled=False).new_page()
        page.goto(f"{live_server.url}/accounts/login/?next=/renders/new/")
        page.fill("#id_username", editor.username)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url("**/renders/new/")
        page.fill("#id_seed", "42")
        page.select_option("#id_template", str(thumb.pk))
        with page.expect_navigation():
            page.click("#switch-template")
        overlay = page.locator("#id_text_overlay").count()
        seed = page.input_value("#id_seed")
        browser.close()

    assert (overlay, seed) == (1, "42")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_template_switch_without_javascript_moves_a_title_with_no_slot_of_its_name_and_says_so(
    live_server, demo, editor
):
    """ "What you typed is kept" dropped the cover's title on a switch to the thumbnail (its slot is "overlay")."""
    thumb = Template.objects.get(slug="product-thumbnail")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(java_script_enabled=False).new_page()
        page.goto(f"{live_server.url}/accounts/login/?next=/renders/new/")
        page.fill("#id_username", editor.username)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url("**/renders/new/")
        page.fill("#id_text_title", "Spring Sale")
        page.select_option("#id_template", str(thumb.pk))
        with page.expect_navigation():
            page.click("#switch-template")
        overlay = page.input_value("#id_text_overlay")
        note = page.inner_text("#switch-notes") if page.locator("#switch-notes").count() else ""
        browser.close()

    assert overlay == "Spring Sale"
    assert note == "“Spring Sale” (typed in title) was put in overlay: the new template has no title slot."


def test_texts_carry_over_drops_what_has_no_slot_left_and_says_so():
    from apps.renders.forms import texts_carry_over

    placed, notes = texts_carry_over(typed={"title": "Spring", "subtitle": "Sale", "overlay": "New"}, slots=["overlay"])

    assert placed == {"overlay": "New"}
    assert notes == [
        "“Spring” (typed in title) was dropped: the new template has no slot left for it.",
        "“Sale” (typed in subtitle) was dropped: the new template has no slot left for it.",
    ]
