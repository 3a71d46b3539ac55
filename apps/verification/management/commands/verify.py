"""Verify images against expected text from the command line.

    python manage.py verify cover.png --expected "Harbour Lights" [--template editorial-cover] --json
    python manage.py verify --manifest images/manifest.jsonl --json

A manifest is JSON lines: {"image": path, "expected": "text" | {"slot": "text"}} with paths
relative to the manifest; a line may also carry "template" (a slug) or "regions". Each output
line is {"image", "verdict", "checks", "ocr_text", "seconds"} (plus "reasons"); an unreadable
file or a bad line prints {"image", "error"} and the run goes on.
"""

import json
import time
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.verification.gate import verify_image
from apps.verification.ocr import backend_names


class BadLine(ValueError):
    pass


def template_spec(slug: str) -> dict[str, Any]:
    """Regions, thresholds, palette and size of a template, by slug.

    Looked up through the app registry: verification sits beside catalog in the layers and
    imports nothing of it; this command is only an interface that needs the template's data.
    """
    model = apps.get_model("catalog", "Template")
    template = model.objects.filter(slug=slug).first()
    if template is None:
        raise BadLine(f"No template {slug!r}.")
    return {
        "slots": [s["name"] for s in template.slots],
        "regions": {s["name"]: s["region"] for s in template.slots if s.get("region")},
        "thresholds": template.verify_thresholds or {},
        "palette": template.palette or [],
        "size": (template.width, template.height),
    }


def expected_map(expected: Any, slots: list[str]) -> dict[str, str]:
    if isinstance(expected, dict) and expected and all(isinstance(v, str) for v in expected.values()):
        return {str(k): v for k, v in expected.items()}
    if isinstance(expected, str) and expected.strip():
        if expected.lstrip().startswith("{"):
            try:
                return expected_map(json.loads(expected), slots)
            except json.JSONDecodeError:
                pass
        return {(slots[0] if slots else "text"): expected}
    raise BadLine('"expected" must be a non-empty string or an object of slot → text.')


def verify_one(
    path: Path,
    expected: Any,
    *,
    template: str = "",
    regions: dict[str, list[float]] | None = None,
    backend: str | None = None,
) -> dict[str, Any]:
    spec = (
        template_spec(template)
        if template
        else {"slots": [], "regions": {}, "thresholds": {}, "palette": [], "size": None}
    )
    want = expected_map(expected, spec["slots"])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadLine(f"Cannot read {path}: {exc.strerror or exc}") from exc
    started = time.perf_counter()
    report = verify_image(
        image=data,
        expected=want,
        regions=regions or spec["regions"],
        thresholds=spec["thresholds"],
        palette=spec["palette"],
        size=spec["size"],
        backend=backend,
    )
    return {
        "image": str(path),
        "verdict": report.verdict,
        "reasons": report.reasons,
        "checks": report.checks_as_dicts(),
        "ocr_text": report.ocr_text,
        "seconds": round(time.perf_counter() - started, 4),
    }


class Command(BaseCommand):
    # An offline tool: it signs nothing and serves no one, so it runs without production settings.
    requires_system_checks: list[str] = []
    help = "Verify an image (or a JSON-lines manifest of images) against the expected text."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("image", nargs="?", help="an image file")
        parser.add_argument("--expected", help='the expected text, or a JSON object {"slot": "text"}')
        parser.add_argument("--template", default="", help="take regions, palette, thresholds from this template")
        parser.add_argument("--manifest", help="a JSON-lines manifest of images")
        parser.add_argument("--json", action="store_true", help="print one JSON object per image")
        parser.add_argument("--backend", choices=backend_names(), default=None)

    def handle(self, *args: Any, **opts: Any) -> None:
        if bool(opts["image"]) == bool(opts["manifest"]):
            raise CommandError("Give either IMAGE (with --expected) or --manifest FILE.")
        if opts["image"]:
            if not opts["expected"]:
                raise CommandError("--expected is required with IMAGE.")
            try:
                row = verify_one(
                    Path(opts["image"]), opts["expected"], template=opts["template"], backend=opts["backend"]
                )
            except BadLine as exc:
                row = {"image": opts["image"], "error": str(exc)}
            self._emit(row, opts["json"])
            return
        manifest = Path(opts["manifest"])
        try:
            lines = manifest.read_text().splitlines()
        except OSError as exc:
            raise CommandError(f"Cannot read the manifest: {exc}") from exc
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            image = None
            try:
                entry = json.loads(raw)
                if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
                    raise BadLine('Each line must be an object with "image" and "expected".')
                image = entry["image"]
                row = verify_one(
                    manifest.parent / image,
                    entry.get("expected"),
                    template=entry.get("template") or opts["template"],
                    regions=entry.get("regions") if isinstance(entry.get("regions"), dict) else None,
                    backend=opts["backend"],
                )
                row["image"] = image
            except json.JSONDecodeError as exc:
                row = {"image": None, "line": number, "error": f"Bad JSON: {exc.msg}"}
            except BadLine as exc:
                row = {"image": image, "line": number, "error": str(exc)}
            self._emit(row, opts["json"])

    def _emit(self, row: dict[str, Any], as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(row, ensure_ascii=False, default=str))
            return
        if "error" in row:
            self.stdout.write(f"{row['image']}: ERROR {row['error']}")
            return
        self.stdout.write(f"{row['image']}: {row['verdict'].upper()} in {row['seconds']:.3f} s")
        self.stdout.write(f"  read: {row['ocr_text']!r}")
        for reason in row["reasons"]:
            self.stdout.write(f"  - {reason}")
