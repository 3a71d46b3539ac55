"""The fakes are only worth their word if they refuse what the vendor refuses: these send
the classic wrong requests straight to them (no adapter involved)."""

import httpx
import pytest

from tests.engines import fakes


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    with httpx.Client(timeout=5) as c:
        yield c


def test_stability_fake_rejects_urlencoded_body(client, stability_fake):
    # httpx's data= alone sends application/x-www-form-urlencoded (research/engines.md §3).
    response = client.post(
        stability_fake.url + "/v2beta/stable-image/generate/sd3",
        data={"prompt": "x", "model": "sd3.5-large-turbo"},
        headers={"Authorization": "Bearer k", "Accept": "image/*"},
    )

    assert response.status_code == 400
    assert response.json()["name"] == "bad_request"


def test_ideogram_fake_rejects_bearer_auth(client, ideogram_fake):
    response = client.post(
        ideogram_fake.url + "/generate", json={"image_request": {"prompt": "x"}}, headers={"Authorization": "Bearer k"}
    )

    assert response.status_code == 401


def test_ideogram_fake_rejects_legacy_field_on_v3(client, ideogram_fake):
    response = client.post(
        ideogram_fake.url + "/v1/ideogram-v3/generate",
        files={"prompt": (None, "x"), "magic_prompt_option": (None, "OFF")},
        headers={"Api-Key": "k"},
    )

    assert response.status_code == 400


def test_openai_fake_rejects_a_seed(client, openai_fake):
    response = client.post(
        openai_fake.url + "/v1/images/generations",
        json={"model": "dall-e-3", "prompt": "x", "seed": 1},
        headers={"Authorization": "Bearer k"},
    )

    assert response.status_code == 400
    assert "seed" in response.json()["error"]["message"]


def test_openai_fake_rejects_response_format_for_gpt_image(client, openai_fake):
    response = client.post(
        openai_fake.url + "/v1/images/generations",
        json={"model": "gpt-image-1", "prompt": "x", "response_format": "b64_json"},
        headers={"Authorization": "Bearer k"},
    )

    assert response.status_code == 400


def test_imagen_fake_rejects_seed_on_gemini_api(client, imagen_fake):
    response = client.post(
        imagen_fake.url + "/v1beta/models/imagen-4.0-generate-001:predict",
        json={"instances": [{"prompt": "x"}], "parameters": {"seed": 1}},
        headers={"x-goog-api-key": "k"},
    )

    assert response.status_code == 400


def test_imagen_fake_rejects_seed_with_watermark_on_vertex(client, imagen_fake):
    response = client.post(
        imagen_fake.url + "/v1/projects/p/locations/l/publishers/google/models/imagen-4.0-generate-001:predict",
        json={"instances": [{"prompt": "x"}], "parameters": {"seed": 1}},
        headers={"Authorization": "Bearer t"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Seed is not supported when watermark is enabled."


def test_fake_records_multipart_fields():
    rec = fakes.Recorded(
        method="POST",
        path="/",
        query={},
        headers={"content-type": "multipart/form-data; boundary=b"},
        body=b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhello\r\n--b--\r\n',
    )

    assert rec.form() == {"prompt": "hello"}
