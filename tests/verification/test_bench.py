"""`bench_verify`: the gate's seconds per image alone and its throughput with worker processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.verification.images import title_card


def test_bench_verify_reports_both_measurements_and_the_verdicts(tmp_path):
    (tmp_path / "right.png").write_bytes(title_card("Harbour Lights"))
    (tmp_path / "wrong.png").write_bytes(title_card("Harbuor Lights"))
    lines = [
        {"image": "right.png", "expected": "Harbour Lights", "label": "ok"},
        {"image": "wrong.png", "expected": "Harbour Lights", "label": "halluc"},
    ]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    out = tmp_path / "bench.json"

    # Its own process, as it is run: the pool forks, and a fork of this test process (whose other
    # tests loaded OCR models and their thread pools) can inherit a held lock and never warm up.
    command = ["manage.py", "bench_verify", "--images", str(tmp_path), "--processes", "2", "--json", str(out)]
    done = subprocess.run(
        [sys.executable, *command],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert done.returncode == 0, done.stderr[-2000:]

    report = json.loads(out.read_text())
    assert (report["images"], report["processes"], report["verdicts"]) == (2, 2, ["pass", "fail"])
    assert report["verdicts_equal"] is True
    assert report["single_cpu_s_per_image"] > 0 and report["pool_images_per_s"] > 0
    assert report["ratio"] == round(report["pool_images_per_s"] / report["ceiling_images_per_s"], 3)
