"""Production settings fail closed and pass Django's deployment checks."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "RENDERHUB_VAR_DIR": os.environ.get("RENDERHUB_VAR_DIR", str(ROOT / "var" / "test")),
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def test_settings_without_secret_key_refuse_to_start_when_debug_is_off():
    done = _manage({"DEBUG": "false", "ALLOWED_HOSTS": "x.example"}, "check")

    assert done.returncode != 0
    assert "SECRET_KEY" in done.stderr


def test_settings_pass_the_deploy_checks_in_production():
    env = {
        "DEBUG": "false",
        "SECRET_KEY": "k" * 20 + "-production-secret-0123456789-abcdefghijkl",
        "ALLOWED_HOSTS": "renderhub.example.internal",
    }

    done = _manage(env, "check", "--deploy", "--fail-level", "WARNING")

    assert done.returncode == 0, done.stderr


def test_settings_default_to_debug_off_and_refuse_to_start_without_a_secret(tmp_path):
    """With DEBUG unset the app ran with DEBUG on and a published secret key."""
    done = _manage({"RENDERHUB_VAR_DIR": str(tmp_path), "ALLOWED_HOSTS": "x.example"}, "check")

    assert done.returncode != 0
    assert "SECRET_KEY" in done.stderr


def test_settings_in_debug_keep_a_random_local_secret_in_var(tmp_path):
    env = {"RENDERHUB_VAR_DIR": str(tmp_path), "DEBUG": "true"}
    show = ("shell", "-v", "0", "-c", "from django.conf import settings; print(settings.DEBUG, settings.SECRET_KEY)")

    first, second = _manage(env, *show), _manage(env, *show)

    key = (tmp_path / "secret_key").read_text().strip()
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["True", key] == second.stdout.split()
    assert len(key) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_static_files_are_served_by_the_production_recipe(tmp_path):
    """README's DEBUG=false + gunicorn recipe answered 404 for every /static/ file."""
    import time

    import httpx

    env = {
        "DEBUG": "false",
        "SECRET_KEY": "k" * 20 + "-production-secret-0123456789-abcdefghijkl",
        "ALLOWED_HOSTS": "127.0.0.1",
        "RENDERHUB_VAR_DIR": str(tmp_path),
    }
    collected = _manage(env, "collectstatic", "--noinput")
    assert collected.returncode == 0, collected.stderr
    port = _free_port()
    gunicorn = Path(sys.executable).parent / "gunicorn"
    server = subprocess.Popen(
        [str(gunicorn), "renderhub.wsgi", "-w", "1", "-b", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env},
        stdout=(tmp_path / "gunicorn.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    # The TLS-terminating proxy of the recipe says the request came over HTTPS.
    headers = {"X-Forwarded-Proto": "https", "Accept-Encoding": "gzip"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    css = http.get("/static/css/app.css")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()[-2000:]
                    time.sleep(0.2)
            js = http.get("/static/vendor/htmx.min.js")
            missing = http.get("/static/css/none.css")
    finally:
        server.terminate()
        server.wait(timeout=15)

    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert css.text == (ROOT / "static" / "css" / "app.css").read_text()
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert missing.status_code == 404


def test_offline_verify_runs_on_a_bare_checkout_with_no_environment(tmp_path):
    """`manage.py verify` stopped with 'Set the SECRET_KEY environment variable' though it
    signs nothing: the gate's command-line check must work on a fresh clone as it is."""
    from PIL import Image, ImageDraw

    from apps.core.fonts import default_face

    image = Image.new("RGB", (640, 200), "white")
    ImageDraw.Draw(image).text((30, 50), "FRESH BREAD", fill="black", font=default_face().truetype(72))
    image.save(tmp_path / "card.png")

    card = str(tmp_path / "card.png")
    done = _manage({"RENDERHUB_VAR_DIR": str(tmp_path)}, "verify", card, "--expected", "FRESH BREAD", "--json")

    assert done.returncode == 0, done.stderr
    assert '"verdict": "pass"' in done.stdout.splitlines()[-1]


def test_web_entry_point_refuses_to_serve_without_secret_or_hosts(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", "import renderhub.wsgi"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "RENDERHUB_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode != 0
    assert "Set the SECRET_KEY and ALLOWED_HOSTS environment variables" in done.stderr
