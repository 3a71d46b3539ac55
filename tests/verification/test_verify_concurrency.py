"""The Procfile's verify worker runs one OCR process per core by default."""

import os
import re
import subprocess
from pathlib import Path

from django.conf import settings


def _verify_concurrency(env: dict[str, str]) -> str:
    lines = (Path(settings.BASE_DIR) / "Procfile").read_text().splitlines()
    line = next(li for li in lines if li.startswith("verify:"))
    expression = re.search(r" -c (.+?) -l ", line).group(1)  # type: ignore[union-attr]
    # The Procfile runner (procfile-run.sh, honcho) expands it with a shell.
    return subprocess.run(["bash", "-c", f"echo {expression}"], env=env, capture_output=True, text=True).stdout.strip()


def test_verify_worker_defaults_to_one_process_per_core_whatever_the_openmp_limit():
    env = {"PATH": os.environ["PATH"], "OMP_THREAD_LIMIT": "1", "OMP_NUM_THREADS": "1"}

    assert _verify_concurrency(env) == str(len(os.sched_getaffinity(0)))


def test_verify_worker_concurrency_follows_verify_concurrency():
    assert _verify_concurrency({"PATH": os.environ["PATH"], "VERIFY_CONCURRENCY": "3"}) == "3"
