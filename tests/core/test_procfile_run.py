"""deploy/systemd/procfile-run.sh runs a Procfile line with the project's virtualenv on PATH:
the Procfile names bare `celery` and `gunicorn`, and the README's recipe calls the virtualenv's
python by path (not activated), so run by hand the script answered 'exec: celery: not found'."""

import shutil
import subprocess
from pathlib import Path

from django.conf import settings


def test_procfile_run_finds_the_virtualenvs_commands_without_an_activated_virtualenv(tmp_path: Path):
    (tmp_path / "deploy/systemd").mkdir(parents=True)
    script = tmp_path / "deploy/systemd/procfile-run.sh"
    shutil.copy(Path(settings.BASE_DIR) / "deploy/systemd/procfile-run.sh", script)
    (tmp_path / "Procfile").write_text("probe: celery\n")
    celery = tmp_path / ".venv/bin/celery"
    celery.parent.mkdir(parents=True)
    celery.write_text('#!/bin/sh\necho "$0"\n')
    celery.chmod(0o755)

    done = subprocess.run(
        ["bash", str(script), "probe"], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30
    )

    assert (done.returncode, done.stdout.strip()) == (0, str(celery))
