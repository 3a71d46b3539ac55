"""`bench_verify`: the gate's seconds per image alone and its throughput with worker processes."""

import json

from django.core.management import call_command

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

    call_command("bench_verify", "--images", str(tmp_path), "--processes", "2", "--json", str(out))

    report = json.loads(out.read_text())
    assert (report["images"], report["processes"], report["verdicts"]) == (2, 2, ["pass", "fail"])
    assert report["verdicts_equal"] is True
    assert report["single_cpu_s_per_image"] > 0 and report["pool_images_per_s"] > 0
    assert report["ratio"] == round(report["pool_images_per_s"] / report["ceiling_images_per_s"], 3)
