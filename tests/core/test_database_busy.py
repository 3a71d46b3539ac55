"""SQLite's busy timeout running out answers 503 with Retry-After, never a bare 500."""

import pytest
from django.db import OperationalError

from apps.accounts.services import api_token_create
from apps.renders import api, openai_api
from apps.renders.models import RenderJob

pytestmark = pytest.mark.django_db


def _locked(**_kw):  # type: ignore[no-untyped-def]
    raise OperationalError("database is locked")


def _post(client, path, body, token):  # type: ignore[no-untyped-def]
    return client.post(path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_api_submission_on_a_locked_database_is_503_with_retry_after(client, demo, editor, monkeypatch):
    monkeypatch.setattr(api, "job_submit", _locked)
    client.raise_request_exception = False

    response = _post(client, "/api/v1/renders", {"prompt": 'a "SALE" sign', "seed": 1}, api_token_create(user=editor))

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "database was busy" in response.json()["error"]
    assert not RenderJob.objects.exists()


def test_openai_endpoint_on_a_locked_database_answers_in_openai_shape(client, demo, editor, monkeypatch):
    monkeypatch.setattr(openai_api, "job_submit", _locked)
    client.raise_request_exception = False

    response = _post(client, "/v1/images/generations", {"prompt": "a sign"}, api_token_create(user=editor))

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "database_busy" and error["type"] == "server_error"


def test_other_database_errors_are_not_disguised_as_busy(client, demo, editor, monkeypatch):
    def broken(**_kw):  # type: ignore[no-untyped-def]
        raise OperationalError("no such table: renders_renderjob")

    monkeypatch.setattr(api, "job_submit", broken)
    client.raise_request_exception = False

    response = _post(client, "/api/v1/renders", {"prompt": 'a "SALE" sign', "seed": 1}, api_token_create(user=editor))

    assert response.status_code == 500
