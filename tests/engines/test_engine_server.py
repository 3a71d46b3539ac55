"""`manage.py engine_server`: a real process serving the generic protocol, called by the http adapter."""

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from apps.engines.services import engine_generate
from apps.engines.types import EngineRequest
from tests.engines.conftest import engine_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine_server(tmp_path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "RENDERHUB_VAR_DIR": str(tmp_path), "RENDERHUB_BUILTIN_LATENCY_SCALE": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "engine_server",
            "--port",
            "0",
            "--latency-p50-ms",
            "120",
            "--latency-sigma",
            "0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    assert "Serving the generic engine protocol on" in line, line
    url = line.split(" on ")[1].split()[0]
    yield url
    proc.terminate()
    proc.wait(10)


def test_engine_server_answers_curl_style_post_with_a_png(engine_server):
    started = time.monotonic()
    response = httpx.post(engine_server + "generate", json={"prompt": 'a "SALE" sticker', "seed": 7, "size": "320x200"})

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-seed"] == "7"
    assert Image.open(io.BytesIO(response.content)).size == (320, 200)
    assert time.monotonic() - started >= 0.1  # the chosen latency is simulated


def test_engine_server_rejects_a_bad_body_with_a_json_error(engine_server):
    response = httpx.post(engine_server, json={"prompt": "x", "size": "huge"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_engine_server_is_reachable_through_the_http_adapter(db, engine_server):
    engine = engine_for("http", engine_server + "generate", api_key_env="")

    result = engine_generate(engine=engine, request=EngineRequest(prompt="a fox", seed=3, width=256, height=128))

    assert result.seed_used == 3
    assert Image.open(io.BytesIO(result.image)).size == (256, 128)


def test_engine_server_applies_a_known_simulated_adapter_and_refuses_an_unknown_one(db, engine_server):
    from apps.engines.types import MisconfiguredError

    engine = engine_for("http", engine_server + "generate", api_key_env="")
    known = EngineRequest(
        prompt='a "SALE" sticker', seed=3, width=256, height=128, adapter_ref="renderhub-sim/typography-lora"
    )

    result = engine_generate(engine=engine, request=known)
    unknown = httpx.post(engine_server, json={"prompt": "x", "seed": 1, "size": "256x128", "adapter": "nope"})

    assert Image.open(io.BytesIO(result.image)).size == (256, 128)
    assert result.sent["adapter"] == "renderhub-sim/typography-lora"
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "unknown_adapter"
    bad = EngineRequest(prompt="x", seed=1, width=64, height=64, adapter_ref="nope")
    with pytest.raises(MisconfiguredError, match="Unknown adapter 'nope'"):
        engine_generate(engine=engine, request=bad)
