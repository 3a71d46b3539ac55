"""The embedded default, once, end to end: SQLite + filesystem broker + a real worker,
started the way `make run` starts them, with no services and no environment but DEBUG=true."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_embedded_default_runs_a_render_with_no_services(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "RENDERHUB_VAR_DIR": str(tmp_path / "var"),
        "DEBUG": "true",  # as `make run` sets it
    }
    _manage(env, "migrate", "--noinput")
    assert "login: editor" in _manage(env, "seed_demo", "--password", "embedded-pw")
    token = _manage(env, "create_api_token", "editor").strip()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "run_embedded", "--port", str(port), "--concurrency", "4"],
        cwd=ROOT,
        env=env,
        stdout=(tmp_path / "server.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.get("/accounts/login/").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-3000:]
                time.sleep(0.3)

            body = {
                "prompt": 'a bakery window with the word "OPEN"',
                "seed": 77,
                "size": "512x512",
                "asset_class": "preview",
            }
            images = []
            for _ in range(2):
                response = http.post("/api/models/render", json=body, headers=headers)
                assert response.status_code in (200, 202), response.text
                if response.status_code == 202:
                    url = response.headers["Location"]
                    deadline = time.monotonic() + 60
                    while (detail := http.get(url, headers=headers).json())["status"] not in (
                        "delivered",
                        "needs_review",
                        "failed",
                    ):
                        assert time.monotonic() < deadline, detail
                        time.sleep(0.2)
                    assert detail["status"] != "failed", detail
                    response = http.get(detail["image_url"], headers=headers)
                images.append(response.content)
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert images[0].startswith(b"\x89PNG")
    assert images[0] == images[1]
    assert (tmp_path / "var" / "renderhub.sqlite3").exists()
