"""The training-set export of a seeded demo template whose jobs went through the real pipeline
(built-in engine simulation, storage, RapidOCR gate) and real moderator decisions."""

import json
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apps.catalog.models import Template
from apps.moderation.models import ModerationDecision
from apps.policy.models import Tier
from apps.renders.models import JobStatus, RenderJob
from apps.training.export import SYNTHETIC_NOTE, ExportOptions, split_keys, training_set_export
from apps.training.selectors import training_candidates
from apps.verification.gate import verify_image
from tests.training.helpers import TEMPLATE, exact_engine, final_job, template_history


@pytest.fixture
def history(demo, editor, moderator, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    return template_history(editor=editor, moderator=moderator, captured=django_capture_on_commit_callbacks)


def _export(tmp_path: Path, **options) -> tuple[Path, dict, list[dict]]:  # type: ignore[no-untyped-def]
    out = tmp_path / "set"
    result = training_set_export(
        template=Template.objects.get(slug=TEMPLATE), out_dir=out, options=ExportOptions(**options)
    )
    lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    report = json.loads((out / "report.json").read_text())
    assert report == json.loads(json.dumps(result.report))
    return out, report, lines


def test_history_took_the_roads_the_export_tells_apart(history):
    assert {j.status for j in history.first_pass} == {JobStatus.DELIVERED}
    assert history.duplicate_image.status == JobStatus.DELIVERED
    assert (history.approved.status, history.edited.status, history.escalated.status) == (JobStatus.DELIVERED,) * 3
    assert {j.status for j in history.rejected} == {JobStatus.REJECTED}
    assert history.waiting.status == JobStatus.NEEDS_REVIEW
    assert history.edited.texts == {"title": "Winter Market"}


def test_export_keeps_approved_first_pass_and_edited_renders_and_says_why_the_rest_left(history, tmp_path):
    _out, report, lines = _export(tmp_path, min_real=0)

    real_ids = {line["id"] for line in lines if not line["synthetic"]}
    expected = {str(j.public_id) for j in [*history.first_pass, history.approved, history.edited]}
    assert real_ids == expected
    assert report["left_out"] == {
        "rejected": 2,
        "not_delivered": 1,
        "escalated_pass": 1,
        "duplicate_image": 1,
    }
    assert report["not_delivered_by_status"] == {"needs_review": 1}
    assert report["jobs_considered"] == 11  # the other template's job is not considered
    assert report["included"] == {
        "total": 6,
        "real": 6,
        "synthetic": 0,
        "by_origin": {"gate_first_pass": 5, "moderator_approved": 1},
    }
    assert set(report["reasons"]) == set(report["left_out"])


def test_export_records_verdicts_approver_and_the_edited_text_as_target(history, moderator, tmp_path):
    _out, _report, lines = _export(tmp_path, min_real=0)
    by_id = {line["id"]: line for line in lines}

    approved = by_id[str(history.approved.public_id)]
    assert approved["origin"] == "moderator_approved"
    assert approved["approved_by"] == moderator.username
    assert approved["verdicts"]["moderator"] == "approved"
    assert approved["verdicts"]["gate"] == "fail"  # what the gate said before the moderator overruled it
    edited = by_id[str(history.edited.public_id)]
    assert edited["texts"] == {"title": "Winter Market"}
    assert '"Winter Market"' in edited["caption"]
    assert (edited["edited"], edited["edited_slots"]) == (True, ["title"])
    assert '"Wintr Market"' in edited["original_prompt"]
    assert edited["verdicts"]["gate"] == "pass"
    first = by_id[str(history.first_pass[0].public_id)]
    assert (first["origin"], first["approved_by"], first["verdicts"]["moderator"]) == ("gate_first_pass", None, None)
    assert first["engine"] == {"slug": "exact-sim", "model_id": "builtin-exact-sim", "simulation": True}
    assert "simulation" in first["rights"]
    assert first["adapter"] == {
        "slug": "cover-lora",
        "reference": "cover_v1.safetensors",
        "base_model": "sd_xl_base_1.0",
        "strength": 0.8,
    }
    assert first["adapter_use"] == "applied"


def test_export_files_captions_and_metadata_match_the_manifest(history, tmp_path):
    out, _report, lines = _export(tmp_path, min_real=0)

    for line in lines:
        assert (out / line["file_name"]).is_file()
        caption = (out / line["caption_file"]).read_text()
        assert caption == line["caption"] == line["prompt"]
        for text in line["texts"].values():
            assert f'"{text}"' in caption
        assert Path(line["caption_file"]).stem == Path(line["file_name"]).stem
    for split in ("train", "validation"):
        rows = [json.loads(r) for r in (out / split / "metadata.jsonl").read_text().splitlines()]
        assert sorted(r["id"] for r in rows) == sorted(line["id"] for line in lines if line["split"] == split)
        for row in rows:
            assert (out / split / row["file_name"]).is_file()
            assert row["text"] == (out / split / row["file_name"]).with_suffix(".txt").read_text()
            assert row["adapter"] == ("" if row["synthetic"] else "cover-lora")
    config = tomllib.loads((out / "dataset.toml").read_text())
    subset = config["datasets"][0]["subsets"][0]
    train_images = sorted(p.name for p in (out / subset["image_dir"]).glob("*.png"))
    assert train_images == sorted(Path(line["file_name"]).name for line in lines if line["split"] == "train")
    assert config["general"]["caption_extension"] == ".txt"


def test_export_splits_deterministically_by_seed(history, tmp_path):
    _, report, lines = _export(tmp_path / "a", min_real=0, split=0.5, seed=7)
    _, _, again = _export(tmp_path / "b", min_real=0, split=0.5, seed=7)

    assert report["split"] == {
        "train": {"real": 3, "synthetic": 0, "total": 3},
        "validation": {"real": 3, "synthetic": 0, "total": 3},
    }
    assert [(line["id"], line["split"]) for line in lines] == [(line["id"], line["split"]) for line in again]
    assert {line["split"] for line in lines if line["split"] == "validation"} == {"validation"}


def test_export_fills_a_small_set_with_marked_synthetic_compositor_pairs(history, tmp_path):
    out, report, lines = _export(tmp_path, min_real=10, split=0.9)

    synthetic = [line for line in lines if line["synthetic"]]
    assert (report["included"]["real"], report["included"]["synthetic"]) == (6, 4)
    assert report["split"] == {
        "train": {"real": 5, "synthetic": 3, "total": 8},
        "validation": {"real": 1, "synthetic": 1, "total": 2},
    }
    assert {(s["origin"], s["rights"], s["engine"]["slug"]) for s in synthetic} == {
        ("synthetic", SYNTHETIC_NOTE, "compositor")
    }
    assert len({json.dumps(s["texts"]) for s in synthetic}) == 4
    # The target is exact typography: the gate reads the text the caption asks for.
    pair = synthetic[0]
    template = Template.objects.get(slug=TEMPLATE)
    report_ = verify_image(
        image=(out / pair["file_name"]).read_bytes(),
        expected=pair["texts"],
        regions={s["name"]: s["region"] for s in template.slots},
        palette=template.palette,
        size=(template.width, template.height),
    )
    assert report_.verdict == "pass"


def test_export_leaves_out_the_same_render_stored_twice(history, tmp_path):
    from PIL import Image

    # The duplicate's file re-encoded: other bytes, the same seed, text and engine.
    attempt = history.duplicate_image.attempts.get()
    with attempt.image.open("rb") as fh:
        img = Image.open(fh)
        img.load()
    with attempt.image.open("wb") as fh:
        img.save(fh, format="PNG", compress_level=9)

    _, report, _ = _export(tmp_path, min_real=0)

    assert report["left_out"]["duplicate_render"] == 1
    assert "duplicate_image" not in report["left_out"]


def test_export_since_leaves_out_older_jobs_and_reads_in_three_queries(history, tmp_path, django_assert_num_queries):
    old = [history.first_pass[0].pk, history.approved.pk]
    RenderJob.objects.filter(pk__in=old).update(created_at=timezone.now() - timedelta(days=10))
    template = Template.objects.get(slug=TEMPLATE)

    with django_assert_num_queries(3):  # jobs, their attempts, their decisions (one chunk)
        selection = training_candidates(template=template, since=timezone.now() - timedelta(days=1))
    _, report, lines = _export(tmp_path, min_real=0, since=timezone.now() - timedelta(days=1))

    assert selection.left_out["before_since"] == 2
    assert report["left_out"]["before_since"] == 2
    assert str(history.approved.public_id) not in {line["id"] for line in lines}
    # The duplicate of the old job is now the oldest of its kind: it is kept in its place.
    assert str(history.duplicate_image.public_id) in {line["id"] for line in lines}
    assert "duplicate_image" not in report["left_out"]


def test_export_counts_unverified_missing_and_mismatched_images(
    history, editor, moderator, tmp_path, django_capture_on_commit_callbacks
):
    # A delivery on a tier that does not verify: nobody checked its text.
    Tier.objects.filter(slug="production").update(verify_ocr=False)
    unverified = final_job(
        editor=editor, captured=django_capture_on_commit_callbacks, title="Open Studio", seed=71, engine=exact_engine()
    )
    # A delivered image lost from storage.
    lost = history.first_pass[1].attempts.get()
    lost.image.storage.delete(lost.image.name)
    # An approval whose image predates the text edit on record.
    ModerationDecision.objects.create(
        job=history.approved,
        moderator=moderator,
        action=ModerationDecision.Action.RERENDER,
        details={"texts": {"title": "Golden Harvest Fair"}, "attempt": 9},
    )

    _, report, lines = _export(tmp_path, min_real=0)

    assert unverified.status == JobStatus.DELIVERED
    assert {k: report["left_out"].get(k) for k in ("not_verified", "no_image", "edited_text_not_target")} == {
        "not_verified": 1,
        "no_image": 1,
        "edited_text_not_target": 1,
    }
    ids = {line["id"] for line in lines}
    assert not ids & {str(unverified.public_id), str(history.first_pass[1].public_id), str(history.approved.public_id)}


def test_split_keys_gives_each_side_at_least_one():
    assert len(split_keys(["a", "b"], fraction=0.9, seed=0)) == 1
    assert split_keys(["a"], fraction=0.9, seed=0) == {"a"}
    assert len(split_keys([str(i) for i in range(10)], fraction=0.9, seed=3)) == 9
    assert split_keys([str(i) for i in range(10)], fraction=0.5, seed=1) != split_keys(
        [str(i) for i in range(10)], fraction=0.5, seed=2
    )
