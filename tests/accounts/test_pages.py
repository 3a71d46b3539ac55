import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_pages_name_a_favicon_that_exists(client):
    """Without one the browser asked for /favicon.ico on every page: a 404 in the console."""
    body = client.get("/accounts/login/").content.decode()

    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in body
    assert finders.find("favicon.svg") is not None
