"""Run the gate over a labelled corpus and summarise: catch rate, false fails, review share,
per-kind recall and timing, each rate with a 95 % Wilson interval.

Definitions (per image):
- caught: a hallucinated image whose verdict is not PASS (FAIL, or REVIEW → a moderator);
- false fail: a correct image whose verdict is FAIL;
- review share: images whose verdict is REVIEW (reported for correct images and for all).
Seconds are the gate's own wall time per image (decode, OCR, every check, second opinions);
CPU seconds are the process's CPU time for the same work (one thread), which a shared, loaded
machine inflates far less than wall time.

`evaluate` runs a generated corpus; `evaluate_manifest` runs any labelled JSON-lines set
(``{"image", "expected", "label": "ok" | "halluc", ...}``, e.g. a folder of real model output).
"""

import json
import math
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.verification.corpus import Sample
from apps.verification.gate import FAIL, PASS, REVIEW, verify_image


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class Rate:
    hits: int
    n: int

    @property
    def value(self) -> float:
        return self.hits / self.n if self.n else 0.0

    def as_dict(self) -> dict[str, Any]:
        low, high = wilson(self.hits, self.n)
        return {"value": round(self.value, 4), "hits": self.hits, "n": self.n, "ci95": [round(low, 4), round(high, 4)]}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def percentile_ci(values: list[float], q: float, z: float = 1.96) -> tuple[float, float]:
    """Distribution-free 95 % interval of a quantile: order statistics at the binomial
    normal-approximation ranks n·q ± z·√(n·q·(1−q))."""
    if not values:
        return (0.0, 0.0)
    ordered = sorted(values)
    n = len(ordered)
    spread = z * math.sqrt(n * q * (1 - q))
    lo = max(0, math.floor(n * q - spread) - 1)
    hi = min(n - 1, math.ceil(n * q + spread) - 1)
    return (ordered[lo], ordered[hi])


@dataclass
class EvalReport:
    split: str
    backend: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        bad = [r for r in self.rows if r["label"] == "hallucinated"]
        ok = [r for r in self.rows if r["label"] == "ok"]
        seconds = [r["seconds"] for r in self.rows]
        cpu = [r["cpu_seconds"] for r in self.rows if "cpu_seconds" in r]
        kinds: dict[str, dict[str, Any]] = {}
        for kind in sorted({r["kind"] for r in bad}):
            rows = [r for r in bad if r["kind"] == kind]
            kinds[kind] = Rate(sum(r["verdict"] != PASS for r in rows), len(rows)).as_dict()
        return {
            "split": self.split,
            "backend": self.backend,
            "images": len(self.rows),
            "hallucinated": len(bad),
            "correct": len(ok),
            "catch": Rate(sum(r["verdict"] != PASS for r in bad), len(bad)).as_dict(),
            "caught_as_fail": Rate(sum(r["verdict"] == FAIL for r in bad), len(bad)).as_dict(),
            "false_fail": Rate(sum(r["verdict"] == FAIL for r in ok), len(ok)).as_dict(),
            "review_share_correct": Rate(sum(r["verdict"] == REVIEW for r in ok), len(ok)).as_dict(),
            "review_share_all": Rate(sum(r["verdict"] == REVIEW for r in self.rows), len(self.rows)).as_dict(),
            "per_kind_recall": kinds,
            "per_layout": _breakdown(self.rows, "layout", "plain"),
            "per_encoding": _breakdown(self.rows, "encoding", "none"),
            "per_script": _breakdown(self.rows, "script", "Latin"),
            "per_source": _breakdown(self.rows, "source", "synthetic"),
            "cpu_seconds": {
                "p50": round(percentile(cpu, 0.5), 4),
                "p95": round(percentile(cpu, 0.95), 4),
                "p95_ci95": [round(v, 4) for v in percentile_ci(cpu, 0.95)],
                "max": round(max(cpu, default=0.0), 4),
            },
            "seconds": {
                "p50": round(percentile(seconds, 0.5), 4),
                "p95": round(percentile(seconds, 0.95), 4),
                "p50_ci95": [round(v, 4) for v in percentile_ci(seconds, 0.5)],
                "p95_ci95": [round(v, 4) for v in percentile_ci(seconds, 0.95)],
                "max": round(max(seconds, default=0.0), 4),
                "mean": round(statistics.fmean(seconds), 4) if seconds else 0.0,
            },
        }


def _breakdown(rows: list[dict[str, Any]], key: str, default: str) -> dict[str, dict[str, Any]]:
    """Catch, false fail and review of correct images per value of ``row[key]`` (`default`
    where the row has none)."""
    out: dict[str, dict[str, Any]] = {}
    for value in sorted({r.get(key) or default for r in rows}):
        bad = [r for r in rows if (r.get(key) or default) == value and r["label"] == "hallucinated"]
        ok = [r for r in rows if (r.get(key) or default) == value and r["label"] == "ok"]
        out[value] = {
            "catch": Rate(sum(r["verdict"] != PASS for r in bad), len(bad)).as_dict(),
            "false_fail": Rate(sum(r["verdict"] == FAIL for r in ok), len(ok)).as_dict(),
            "review_correct": Rate(sum(r["verdict"] == REVIEW for r in ok), len(ok)).as_dict(),
        }
    return out


def evaluate(
    samples: Iterable[Sample], *, split: str, backend: str | None = None, thresholds: dict | None = None
) -> EvalReport:
    from apps.verification.ocr import ocr_backend

    engine = ocr_backend(backend)
    report = EvalReport(split=split, backend=engine.name)
    warm = True
    for sample in samples:
        if warm:  # the first call initialises onnxruntime's arenas; a worker pays it once
            verify_image(image=sample.image, expected=sample.expected, regions=sample.regions, backend=backend)
            warm = False
        cpu_started = time.process_time()
        gate = verify_image(
            image=sample.image,
            expected=sample.expected,
            regions=sample.regions,
            thresholds=thresholds,
            backend=backend,
        )
        cpu_seconds = time.process_time() - cpu_started
        report.rows.append(
            {
                "id": sample.id,
                "label": sample.label,
                "kind": sample.kind,
                "source": sample.source,
                "expected": sample.expected,
                "drawn": sample.drawn,
                "verdict": gate.verdict,
                "reasons": gate.reasons,
                "ocr_text": gate.ocr_text,
                "seconds": gate.seconds,
                "cpu_seconds": cpu_seconds,
                "layout": sample.meta.get("layout", "plain"),
                "encoding": sample.meta.get("encoding") or _encoding_of(sample.image),
                "script": sample.meta.get("script") or _script_of(sample.expected),
                "meta": sample.meta,
            }
        )
    return report


def _encoding_of(data: bytes) -> str:
    """ "none" for the plain RGB PNG the generator writes; otherwise what the bytes hold as
    ``FORMAT mode`` ("JPEG RGB", "PNG RGBA"), read from the header (a manifest's images)."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            label = f"{img.format} {img.mode}"
            exif = img.getexif().get(0x0112, 1) if img.format in ("JPEG", "WEBP", "PNG") else 1
    except (OSError, ValueError, SyntaxError):  # the gate reports undecodable bytes itself
        return "undecodable"
    if label == "PNG RGB" and exif in (0, 1):
        return "none"
    return label + (f" EXIF {exif}" if exif not in (0, 1) else "")


def _script_of(expected: dict[str, str]) -> str:
    """The scripts of the expected text's letters joined by "+" ("Latin", "Han+Hiragana")."""
    from apps.core.scripts import scripts_in

    return "+".join(sorted(set(scripts_in(" ".join(expected.values()))))) or "none"


LABELS = {"ok": "ok", "correct": "ok", "halluc": "hallucinated", "hallucinated": "hallucinated"}


class ManifestError(ValueError):
    pass


def manifest_samples(path: Path) -> list[Sample]:
    """Labelled samples from a JSON-lines manifest; paths are relative to the manifest.

    Each line: ``{"image": path, "expected": text | {slot: text}, "label": "ok" | "halluc"}``
    with optional ``"regions"`` ({slot: [x0, y0, x1, y1]} fractions), ``"kind"`` and ``"id"``.
    Raises ManifestError naming the line for a bad line or an unreadable image.
    """
    samples = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"line {number}: bad JSON ({exc.msg})") from exc
        label = LABELS.get(str(entry.get("label", "")).lower()) if isinstance(entry, dict) else None
        expected = entry.get("expected") if isinstance(entry, dict) else None
        if label is None or not isinstance(entry.get("image"), str):
            raise ManifestError(f'line {number}: needs "image" and "label" (ok | halluc)')
        if isinstance(expected, str) and expected.strip():
            expected = {"text": expected}
        if not isinstance(expected, dict) or not expected:
            raise ManifestError(f'line {number}: "expected" must be text or an object of slot → text')
        try:
            data = (path.parent / entry["image"]).read_bytes()
        except OSError as exc:
            raise ManifestError(f"line {number}: cannot read {entry['image']}: {exc.strerror or exc}") from exc
        samples.append(
            Sample(
                id=str(entry.get("id") or entry["image"]),
                image=data,
                expected={str(k): str(v) for k, v in expected.items()},
                regions=entry.get("regions") if isinstance(entry.get("regions"), dict) else {},
                label=label,
                kind=str(entry.get("kind") or ("ok" if label == "ok" else "unknown")),
                source="manifest",
                drawn=str(entry.get("transcription") or ""),
                meta={"layout": str(entry.get("layout") or "manifest")},
            )
        )
    return samples
