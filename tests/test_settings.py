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
