"""Hostile input to every submit endpoint: a clear 4xx in the client's format, nothing saved."""

import json

import pytest
from django.test import Client

from apps.accounts.services import api_token_create
from apps.renders import api, openai_api
from apps.renders.models import RenderJob
from apps.renders.schemas import MAX_PROMPT_CHARS, MAX_SLOT_CHARS, MAX_SLOTS

pytestmark = pytest.mark.django_db

SUBMIT_PATHS = ["/api/v1/renders", "/api/models/render", "/api/models/builtin-turbo", "/v1/images/generations"]
DEEP = 100_000


@pytest.fixture
def token(demo, editor):  # type: ignore[no-untyped-def]
    return api_token_create(user=editor)


def _post_raw(client, path, raw: bytes, token, content_type="application/json"):  # type: ignore[no-untyped-def]
    return client.post(path, raw, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}")


def _error_text(path: str, response) -> str:  # type: ignore[no-untyped-def]
    """The error message in the format of the endpoint's clients (OpenAI's envelope under /v1/)."""
    body = response.json()
    return body["error"]["message"] if path.startswith("/v1/") else body["error"]


HOSTILE_BODIES = {
    "nul in prompt": json.dumps({"prompt": 'a "SALE\u0000" sign', "seed": 1}).encode(),
    "escaped lone surrogate": b'{"prompt": "a \\"SALE\\ud800\\" sign", "seed": 1}',
    "raw lone surrogate bytes": b'{"prompt": "a \xed\xa0\x80 sign", "seed": 1}',
    "nul in a key": b'{"prompt": "a", "te\\u0000xts": {}}',
    "nul in a slot text": json.dumps({"prompt": 'a "B"', "texts": {"text1": "B\u0000"}}).encode(),
    "nested 100,000 deep": b'{"prompt": "a", "seed": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    "5,000-digit seed": b'{"prompt": "a", "seed": ' + b"9" * 5000 + b"}",
    "30-digit seed": b'{"prompt": "a", "seed": ' + b"9" * 30 + b"}",
    "NaN seed": b'{"prompt": "a", "seed": NaN}',
    "not UTF-8": b'{"prompt": "caf\xe9"}',
    "prompt over the limit": json.dumps({"prompt": "p" * (MAX_PROMPT_CHARS + 1)}).encode(),
}


@pytest.mark.parametrize("path", SUBMIT_PATHS)
def test_submit_hostile_body_is_a_clear_4xx_and_saves_nothing(client, token, path):
    bodies = dict(HOSTILE_BODIES)
    if path.startswith("/v1/"):  # the OpenAI-compatible endpoint keeps OpenAI's own prompt limit
        bodies["prompt over the limit"] = json.dumps({"prompt": "p" * (openai_api.MAX_PROMPT_CHARS + 1)}).encode()
    answers = {name: _post_raw(client, path, body, token) for name, body in bodies.items()}

    bad = {name: (r.status_code, r.content[:200]) for name, r in answers.items() if not 400 <= r.status_code < 500}
    assert bad == {}
    assert {r["Content-Type"] for r in answers.values()} == {"application/json"}
    assert all(_error_text(path, r) for r in answers.values())
    assert RenderJob.objects.count() == 0


LIMIT_CASES = [
    ({"prompt": "p" * (MAX_PROMPT_CHARS + 1)}, "prompt"),
    ({"prompt": 'a "B"', "texts": {"text1": "t" * (MAX_SLOT_CHARS + 1)}}, "texts.text1"),
    ({"prompt": 'a "B"', "texts": {f"s{i}": "x" for i in range(MAX_SLOTS + 1)}}, "texts"),
    ({"prompt": 'a "B"', "texts": {"bad name!": "x"}}, "texts.bad name!"),
    ({"prompt": "a", "seed": 2**31}, "seed"),
    ({"prompt": "a", "seed": -1}, "seed"),
    ({"prompt": "a", "seed": 1.5}, "seed"),
    ({"prompt": "a", "tier": {"slug": "x"}}, "tier"),
]


@pytest.mark.parametrize("path", SUBMIT_PATHS[:3])
def test_api_limits_are_400_naming_the_field(client, token, path):
    answers = [(field, _post_raw(client, path, json.dumps(body).encode(), token)) for body, field in LIMIT_CASES]

    assert [(r.status_code, r.json().get("field")) for _, r in answers] == [(400, field) for field, _ in answers]
    assert RenderJob.objects.count() == 0


def test_api_prompt_at_the_limit_is_accepted(client, token, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = _post_raw(client, "/api/v1/renders", json.dumps({"prompt": "p" * MAX_PROMPT_CHARS}).encode(), token)

    assert response.status_code == 202, response.content[:300]
    assert len(RenderJob.objects.get().prompt) == MAX_PROMPT_CHARS


@pytest.mark.parametrize("path", SUBMIT_PATHS)
def test_submit_body_over_the_upload_limit_is_json_413(client, token, path, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = _post_raw(client, path, json.dumps({"prompt": "p" * 2000}).encode(), token)

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "too large" in _error_text(path, response)


def test_form_body_over_the_upload_limit_is_413_in_json_for_a_json_client(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = client.post("/accounts/login/", {"username": "u" * 2000}, HTTP_ACCEPT="application/json")

    assert response.status_code == 413
    assert response.json() == {"error": "The request body is too large."}


def test_form_body_over_the_upload_limit_is_413_for_a_browser(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = client.post("/accounts/login/", {"username": "u" * 2000}, HTTP_ACCEPT="text/html")

    assert response.status_code == 413
    assert b"too large" in response.content


@pytest.mark.parametrize("path", SUBMIT_PATHS)
def test_server_error_answers_json_to_api_clients(token, path, monkeypatch):
    def broken(**kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug")

    monkeypatch.setattr(api, "job_submit", broken)
    monkeypatch.setattr(openai_api, "job_submit", broken)
    client = Client(raise_request_exception=False)

    body = {"prompt": 'a "B"', **({"model": "builtin-turbo"} if path.startswith("/v1/") else {})}

    response = _post_raw(client, path, json.dumps(body).encode(), token)

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert _error_text(path, response)  # a message in the endpoint's JSON shape, not Django's HTML page


def test_unknown_api_url_is_json_404(client):
    response = client.get("/api/nope")

    assert response.status_code == 404
    assert response.json() == {"error": "Not found."}


def test_openapi_document_is_published_from_the_models(client):
    response = client.get("/api/openapi.json")

    doc = response.json()
    assert response.status_code == 200
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) >= {"/api/v1/renders", "/api/models/render", "/api/models/{engine_slug}"}
    request = doc["components"]["schemas"]["RenderRequest"]
    assert request["additionalProperties"] is False
    assert request["properties"]["prompt"]["maxLength"] == MAX_PROMPT_CHARS
    assert request["properties"]["texts"]["maxProperties"] == MAX_SLOTS
