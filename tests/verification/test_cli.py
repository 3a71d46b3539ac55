import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.verification.images import title_card


def run(*args, **kwargs) -> list[dict]:  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command("verify", *args, stdout=out, **kwargs)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_verify_one_image_prints_the_verdict_as_json(tmp_path):
    path = tmp_path / "cover.png"
    path.write_bytes(title_card("Harbour Lights"))

    [row] = run(str(path), expected="Harbour Lights", json=True)

    assert set(row) >= {"image", "verdict", "checks", "ocr_text", "seconds"}
    assert (row["verdict"], row["ocr_text"]) == ("pass", "Harbour Lights")


def test_verify_one_image_with_a_template_uses_its_region(tmp_path, demo):
    path = tmp_path / "cover.png"
    path.write_bytes(title_card("Harbour Lights"))

    [row] = run(str(path), expected="Harbour Lights", template="editorial-cover", json=True)

    names = [c["name"] for c in row["checks"]]
    assert row["verdict"] == "pass"
    assert "text:title" in names and "layout:title" in names and "palette" in names


def test_verify_manifest_reports_errors_and_goes_on(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "good.png").write_bytes(title_card("Night Market"))
    (tmp_path / "imgs" / "bad.png").write_bytes(title_card("Nigth Market"))
    (tmp_path / "imgs" / "junk.png").write_bytes(b"not an image at all")
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(
        "\n".join(
            [
                json.dumps({"image": "imgs/good.png", "expected": "Night Market"}),
                "{this is not json",
                json.dumps({"image": "imgs/missing.png", "expected": "Night Market"}),
                json.dumps({"image": "imgs/bad.png", "expected": {"title": "Night Market"}}),
                json.dumps({"image": "imgs/good.png", "expected": 42}),
                json.dumps({"image": "imgs/junk.png", "expected": "Night Market"}),
            ]
        )
    )

    rows = run(manifest=str(manifest), json=True)

    assert [r.get("verdict", "error") for r in rows] == ["pass", "error", "error", "fail", "error", "fail"]
    assert rows[0]["image"] == "imgs/good.png"
    assert rows[1]["line"] == 2 and "Bad JSON" in rows[1]["error"]
    assert "Cannot read" in rows[2]["error"]
    assert rows[3]["ocr_text"] == "Nigth Market"
    assert rows[5]["checks"][0]["name"] == "image"


def test_verify_needs_an_image_or_a_manifest():
    with pytest.raises(CommandError):
        call_command("verify", stdout=StringIO())
