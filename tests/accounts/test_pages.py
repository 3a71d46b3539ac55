import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_pages_name_a_favicon_that_exists(client):
    """Without one the browser asked for /favicon.ico on every page: a 404 in the console."""
    body = client.get("/accounts/login/").content.decode()

    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in body
    assert finders.find("favicon.svg") is not None


def test_forbidden_page_says_why_and_keeps_the_navigation(client, editor):
    """It was Django's bare "403 Forbidden": a dead end with no way back."""
    client.force_login(editor)

    response = client.get(reverse("policy:tier-list"))

    body = response.content.decode()
    assert response.status_code == 403
    assert "Your account cannot open this page." in body
    assert f'href="{reverse("renders:job-new")}"' in body
