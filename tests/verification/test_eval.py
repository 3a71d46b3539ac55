import io
import json
from io import StringIO

import pytest
from django.core.management import call_command
from PIL import Image

from apps.verification.corpus import ALL_KINDS, AMOUNT_KINDS, generate, hallucinate
from apps.verification.evaluation import evaluate, percentile_ci, wilson
from apps.verification.gate import normalise


def test_wilson_interval_matches_the_known_values():
    assert tuple(round(v, 3) for v in wilson(0, 100)) == (0.0, 0.037)
    assert tuple(round(v, 3) for v in wilson(99, 100)) == (0.946, 0.998)


def test_percentile_ci_brackets_the_quantile():
    values = [i / 1000 for i in range(1, 601)]

    low, high = percentile_ci(values, 0.95)

    assert (low, high) == (0.559, 0.581)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_hallucination_kind_changes_the_text(kind):
    import random

    rng = random.Random(3)
    titles = {
        "currency": ["SALE €9.99 TODAY", "Bread 4.50 $"],
        "decimal": ["SALE €9.99 TODAY", "Bread 4.50 $"],
        "percent": ["-20% Night Market", "SAVE 15% NOW"],
        "sign": ["-20% Night Market", "Week -5%"],
    }.get(kind, ["Harbour Lights Tonight", "SPRING SALE", "Night market stories live"])
    for title in titles:
        assert normalise(hallucinate(title, kind, rng)) != normalise(title)


def test_corpus_is_deterministic_and_labelled():
    first = list(generate(split="dev", n=12))
    again = list(generate(split="dev", n=12))
    test = list(generate(split="test", n=12))

    assert [s.image for s in first] == [s.image for s in again]
    assert {s.id for s in first}.isdisjoint({s.id for s in test})
    assert all((s.label == "ok") == (s.drawn.split() == s.expected["title"].split()) for s in first)


def test_evaluate_a_small_split_catches_the_hallucinations():
    report = evaluate(generate(split="dev", n=24), split="dev")
    summary = report.summary()

    assert summary["images"] == 24
    assert summary["catch"]["value"] >= 0.9
    assert summary["false_fail"]["value"] <= 0.2
    assert set(summary["seconds"]) == {"p50", "p95", "p50_ci95", "p95_ci95", "max", "mean"}
    assert summary["cpu_seconds"]["p95"] > 0
    low, high = summary["seconds"]["p95_ci95"]
    assert low <= summary["seconds"]["p95"] <= high


def test_verifier_eval_command_prints_and_writes_the_report(tmp_path):
    out = StringIO()
    path = tmp_path / "eval.json"

    call_command("verifier_eval", split="dev", n=6, json_path=str(path), write=str(tmp_path / "set"), stdout=out)

    text = out.getvalue()
    assert "catch rate" in text and "false-fail rate" in text and "95% CI" in text
    assert "encoding rgba-transparent" in text and "encoding exif-rotated" in text
    assert json.loads(path.read_text())["summary"]["images"] == 9  # 6 and, by default, 3 variants
    lines = [json.loads(line) for line in (tmp_path / "set" / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) == 9
    assert lines[8]["image"].endswith(".jpg")  # the EXIF-rotated variant is a JPEG
    assert Image.open(tmp_path / "set" / lines[8]["image"]).format == "JPEG"


def test_corpus_has_the_new_layouts_and_amount_kinds():
    samples = list(generate(split="dev", n=300))

    assert {s.meta["layout"] for s in samples if s.source == "synthetic"} == {
        "plain",
        "vertical",
        "repeated",
        "small_print",
    }
    assert set(AMOUNT_KINDS) <= {s.kind for s in samples}


def test_verifier_eval_scores_a_labelled_manifest(tmp_path):
    from tests.verification.images import card

    (tmp_path / "good.png").write_bytes(card([("SALE €9.99", (70, 300))], font_size=64))
    (tmp_path / "bad.png").write_bytes(card([("SALE $9.99", (70, 300))], font_size=64))
    lines = [
        {"image": "good.png", "expected": "SALE €9.99", "label": "ok"},
        {"image": "bad.png", "expected": "SALE €9.99", "label": "halluc", "kind": "currency"},
    ]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines))
    out = StringIO()

    call_command("verifier_eval", manifest=str(manifest), json_path=str(tmp_path / "r.json"), stdout=out)

    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert (summary["catch"]["hits"], summary["catch"]["n"]) == (1, 1)
    assert (summary["false_fail"]["hits"], summary["false_fail"]["n"]) == (0, 1)
    assert (summary["review_share_correct"]["hits"], summary["review_share_correct"]["n"]) == (0, 1)
    assert summary["per_kind_recall"]["currency"]["ci95"] == [0.2065, 1.0]
    assert "(1/1, 95% CI 20.6%–100.0%)" in out.getvalue(), out.getvalue()


def test_verifier_eval_refuses_a_manifest_line_without_a_label(tmp_path):
    from django.core.management.base import CommandError

    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(json.dumps({"image": "x.png", "expected": "A"}))

    with pytest.raises(CommandError, match="line 1: needs"):
        call_command("verifier_eval", manifest=str(manifest), stdout=StringIO())


def test_corpus_variants_leave_the_splits_samples_as_they_were():
    plain = list(generate(split="test", n=6))
    with_variants = list(generate(split="test", n=6, variants=3.0))

    assert [s.image for s in with_variants[:6]] == [s.image for s in plain]
    assert len(with_variants) == 24
    assert len({s.id for s in with_variants}) == 24


def test_corpus_variants_store_each_encoding_as_named_and_decode_to_the_drawn_title():
    from apps.core.images import load_image, open_image
    from apps.verification.corpus_variants import ENCODINGS

    samples = list(generate(split="dev", n=4, variants=3.5))[4:]  # the 7 groups, correct and hallucinated
    by_encoding = {s.meta["encoding"]: s for s in samples if s.meta.get("encoding") and s.label == "ok"}

    assert set(by_encoding) == set(ENCODINGS)
    stored = {name: open_image(s.image) for name, s in by_encoding.items()}
    assert stored["rgba-transparent"].mode == "RGBA"
    assert stored["rgba-transparent"].getchannel("A").getextrema()[0] == 0
    assert stored["16-bit"].mode == "I;16"
    assert stored["palette"].mode == "P"
    assert stored["cmyk"].mode == "CMYK"
    raw = Image.open(io.BytesIO(by_encoding["exif-rotated"].image))
    assert raw.getexif()[0x0112] == by_encoding["exif-rotated"].meta["orientation"]
    assert all(load_image(s.image).size == (768, 512) for s in by_encoding.values())


def test_corpus_variants_draw_chinese_and_japanese_titles_with_character_hallucinations():
    from apps.core.scripts import scripts_in

    samples = [s for s in list(generate(split="dev", n=2, variants=14.0))[2:] if s.meta.get("script")]

    assert {s.meta["script"] for s in samples} == {"Chinese", "Japanese"}
    assert all(set(scripts_in(s.expected["title"])) <= {"Han", "Hiragana", "Katakana"} for s in samples)
    bad = [s for s in samples if s.label == "hallucinated"]
    assert bad and all(normalise(s.drawn) != normalise(s.expected["title"]) for s in bad)


def test_evaluate_reports_catch_and_false_fails_per_encoding_and_script():
    samples = list(generate(split="dev", n=2, variants=7.0))[2:]  # every group, correct and hallucinated

    summary = evaluate(samples, split="dev").summary()

    assert set(summary["per_encoding"]) == {"none", "rgba-transparent", "exif-rotated", "16-bit", "palette", "cmyk"}
    assert set(summary["per_script"]) == {"Latin", "Chinese", "Japanese"}
    for rates in summary["per_encoding"].values():
        assert rates["false_fail"]["hits"] == 0, summary["per_encoding"]
