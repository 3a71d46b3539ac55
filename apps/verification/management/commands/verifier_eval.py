"""Evaluate the verification gate on a generated, labelled corpus.

    python manage.py verifier_eval --split test --n 400 --cpu 0 --json var/eval/test.json

The n samples of the split come first and stay the same; ``--variants 0.5`` (the default) adds
n/2 samples of image encodings (transparent, EXIF-rotated, 16-bit, palette, CMYK) and Chinese
and Japanese titles from a random stream of their own (`corpus_variants`). The report gives
every rate per hallucination kind, layout, encoding and script.

Tune thresholds on ``--split dev`` only; report ``--split test``. ``--cpu 0`` pins the process
to one core (like `taskset -c 0`) so the timings mean "one core". ``--write DIR`` also writes
the images and a manifest (the `verify --manifest` format plus labels) for outside tools.

    python manage.py verifier_eval --manifest ../shared/realset/manifest.jsonl --cpu 0

scores any labelled set instead (label ok | halluc per line, see `evaluation.manifest_samples`).
"""

import json
import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.verification.corpus import SPLIT_SEEDS, generate
from apps.verification.evaluation import ManifestError, evaluate, manifest_samples
from apps.verification.ocr import backend_names


def _fmt(rate: dict[str, Any]) -> str:
    low, high = rate["ci95"]
    return f"{rate['value']:.1%} ({rate['hits']}/{rate['n']}, 95% CI {low:.1%}–{high:.1%})"


class Command(BaseCommand):
    # An offline tool: it signs nothing and serves no one, so it runs without production settings.
    requires_system_checks: list[str] = []
    help = "Run the verification gate on a labelled synthetic + built-in-engine corpus and report."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--split", choices=sorted(SPLIT_SEEDS), default="test")
        parser.add_argument("--n", type=int, default=400, help="images in the split")
        parser.add_argument("--backend", choices=backend_names(), default=None)
        parser.add_argument("--builtin-share", type=float, default=0.15)
        parser.add_argument(
            "--variants",
            type=float,
            default=0.5,
            help="add round(n × this) samples of image encodings and CJK titles after the n "
            "(their own random stream: the first n are the same with any value; 0 for none)",
        )
        parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU (one core)")
        parser.add_argument("--json", dest="json_path", default="", help="write summary + rows here")
        parser.add_argument("--write", default="", help="write images and manifest.jsonl to this folder")
        parser.add_argument("--show-misses", action="store_true")
        parser.add_argument("--manifest", default="", help="score this labelled JSON-lines set instead")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["cpu"] is not None:
            os.sched_setaffinity(0, {opts["cpu"]})
        split = opts["split"]
        if opts["manifest"]:
            try:
                samples = manifest_samples(Path(opts["manifest"]))
            except (ManifestError, OSError) as exc:
                raise CommandError(f"{opts['manifest']}: {exc}") from exc
            split = f"manifest {opts['manifest']}"
        else:
            samples = list(
                generate(split=split, n=opts["n"], builtin_share=opts["builtin_share"], variants=opts["variants"])
            )
        if opts["write"]:
            self._write(samples, Path(opts["write"]))
        report = evaluate(samples, split=split, backend=opts["backend"])
        summary = report.summary()
        out = self.stdout.write
        out(f"split {summary['split']} · backend {summary['backend']} · {summary['images']} images")
        out(f"  ({summary['hallucinated']} hallucinated, {summary['correct']} correct)")
        out(f"catch rate        {_fmt(summary['catch'])}")
        out(f"  of which FAIL   {_fmt(summary['caught_as_fail'])}")
        out(f"false-fail rate   {_fmt(summary['false_fail'])}")
        out(f"review (correct)  {_fmt(summary['review_share_correct'])}")
        out(f"review (all)      {_fmt(summary['review_share_all'])}")
        for kind, rate in summary["per_kind_recall"].items():
            out(f"  recall {kind:<13} {_fmt(rate)}")
        for key in ("layout", "encoding", "script"):
            for value, rates in summary[f"per_{key}"].items():
                out(
                    f"  {key} {value:<16} catch {_fmt(rates['catch'])} · false fail {_fmt(rates['false_fail'])}"
                    f" · review (correct) {_fmt(rates['review_correct'])}"
                )
        for source, rates in summary["per_source"].items():
            out(f"  {source:<10} catch {_fmt(rates['catch'])} · false fail {_fmt(rates['false_fail'])}")
        s = summary["seconds"]
        cpu = f"pinned to CPU {opts['cpu']}" if opts["cpu"] is not None else "not pinned"
        out(
            f"seconds per image ({cpu}): p50 {s['p50']:.3f} (95% CI {s['p50_ci95'][0]:.3f}–{s['p50_ci95'][1]:.3f})"
            f" · p95 {s['p95']:.3f} (95% CI {s['p95_ci95'][0]:.3f}–{s['p95_ci95'][1]:.3f}) · max {s['max']:.3f}"
        )
        c = summary["cpu_seconds"]
        out(
            f"CPU seconds per image: p50 {c['p50']:.3f} · p95 {c['p95']:.3f}"
            f" (95% CI {c['p95_ci95'][0]:.3f}–{c['p95_ci95'][1]:.3f}) · max {c['max']:.3f}"
        )
        if opts["show_misses"]:
            for row in report.rows:
                wrong = (row["label"] == "ok" and row["verdict"] != "pass") or (
                    row["label"] == "hallucinated" and row["verdict"] == "pass"
                )
                if wrong:
                    out(
                        f"  {row['id']} {row['label']}/{row['kind']} → {row['verdict']}: "
                        f"expected {row['expected']} drawn {row['drawn']!r} read {row['ocr_text']!r} "
                        f"{row['reasons']} {row['meta']}"
                    )
        if opts["json_path"]:
            path = Path(opts["json_path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"summary": summary, "rows": report.rows}, indent=1, default=str))
            out(f"wrote {path}")

    def _write(self, samples: list, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "manifest.jsonl").open("w") as manifest:
            for sample in samples:
                name = f"{sample.id}.{'jpg' if sample.image[:2] == b'\xff\xd8' else 'png'}"
                (folder / name).write_bytes(sample.image)
                line = {
                    "image": name,
                    "expected": sample.expected,
                    "regions": sample.regions,
                    "label": sample.label,
                    "kind": sample.kind,
                    "source": sample.source,
                }
                manifest.write(json.dumps(line) + "\n")
