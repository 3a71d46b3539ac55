"""The Tokens page: create (shown once), list with last use and expiry, revoke."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_authenticate, api_token_create
from tests.conftest import PASSWORD
from tests.e2e.test_editor_browser import CHROMIUM, CHROMIUM_ARGS

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
SHOTS = Path("/tmp/shots/admin-pages")


@pytest.mark.django_db
def test_tokens_create_shows_the_key_once_and_it_authenticates(client, editor):
    client.force_login(editor)

    response = client.post(reverse("accounts:tokens"), {"name": "CMS export", "expires_days": "30"})
    first = client.get(reverse("accounts:tokens")).content.decode()
    second = client.get(reverse("accounts:tokens")).content.decode()

    token = ApiToken.objects.get(user=editor)
    key = first.split('<code id="new-token-key">')[1].split("</code>")[0]
    assert response.status_code == 302
    assert (token.name, token.prefix) == ("CMS export", key[:10])
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert api_token_authenticate(key=key) == editor
    assert 'id="new-token-key"' not in second
    assert "CMS export" in second


@pytest.mark.django_db
def test_tokens_create_refuses_an_expiry_out_of_range_and_an_empty_name(client, editor):
    client.force_login(editor)

    response = client.post(reverse("accounts:tokens"), {"name": "  ", "expires_days": "0"})

    body = response.content.decode()
    assert response.status_code == 400
    assert "Ensure this value is greater than or equal to 1." in body
    assert "This field is required." in body
    assert "1–3650 days. Empty: never expires." in body
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_tokens_list_shows_own_tokens_to_an_editor_and_all_to_an_admin(client, editor, admin_user):
    api_token_create(user=editor, name="editor-cms")
    api_token_create(user=admin_user, name="admin-ops")
    ApiToken.objects.filter(name="editor-cms").update(last_used_at=timezone.now())

    client.force_login(editor)
    mine = client.get(reverse("accounts:tokens")).content.decode()
    client.force_login(admin_user)
    everyone = client.get(reverse("accounts:tokens")).content.decode()

    assert ("editor-cms" in mine, "admin-ops" in mine) == (True, False)
    assert ("editor-cms" in everyone, "admin-ops" in everyone) == (True, True)
    assert f"<td>{editor.username}</td>" in everyone
    assert "every user's tokens (admin)" in everyone


@pytest.mark.django_db
def test_tokens_revoke_refuses_the_key_and_only_its_owner_or_an_admin_may(client, editor, admin_user):
    other = type(editor).objects.create_user("other-editor", password=PASSWORD)
    key = api_token_create(user=editor, name="cms")
    token = ApiToken.objects.get(user=editor)

    client.force_login(other)
    refused = client.post(reverse("accounts:token-revoke"), {"token": token.pk}, follow=True).content.decode()
    still_valid = api_token_authenticate(key=key)
    client.force_login(editor)
    revoked = client.post(reverse("accounts:token-revoke"), {"token": token.pk}, follow=True).content.decode()

    assert "No such token among yours." in refused
    assert still_valid == editor
    assert "Revoked “cms”" in revoked
    assert "the API refuses it within 5 s" in revoked  # other processes' caches keep it that long
    assert api_token_authenticate(key=key) is None
    assert ApiToken.objects.get(pk=token.pk).revoked is True


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_editor_creates_and_revokes_a_token_in_a_browser(live_server, demo, editor):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", editor.username)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.click("header nav >> text=Tokens")
        expect(page.locator("#tokens-empty")).to_have_text("No tokens yet.")
        page.fill("#id_name", "CMS export")
        page.fill("#id_expires_days", "7")
        page.click("#token-create")
        key = page.locator("#new-token-key").inner_text()
        expect(page.locator("#token-list")).to_contain_text("CMS export")
        page.screenshot(path=str(SHOTS / "tokens-created.png"), full_page=True)
        page.reload()
        expect(page.locator("#new-token-key")).to_have_count(0)
        page.click("#token-list button:has-text('Revoke')")
        expect(page.locator(".messages")).to_contain_text("Revoked “CMS export”")
        expect(page.locator("#token-list")).to_contain_text("revoked")
        page.screenshot(path=str(SHOTS / "tokens-revoked.png"), full_page=True)
        browser.close()

    assert key.startswith("rh_")
    assert api_token_authenticate(key=key) is None
    assert errors == []


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_admin_sees_and_revokes_another_users_token_in_a_browser(live_server, demo, editor, admin_user):
    key = api_token_create(user=editor, name="editor-cms", expires_days=30)
    api_token_authenticate(key=key)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(f"{live_server.url}/accounts/login/?next=/accounts/tokens/")
        page.fill("#id_username", admin_user.username)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        row = page.locator(f"#token-list tr[data-token='{key[:10]}']")
        expect(row).to_contain_text(editor.username)
        expect(row).to_contain_text("active")
        page.screenshot(path=str(SHOTS / "tokens-admin-all-users.png"), full_page=True)
        row.locator("button:has-text('Revoke')").click()
        expect(page.locator(".messages")).to_contain_text("Revoked “editor-cms”")
        browser.close()

    assert api_token_authenticate(key=key) is None
