"""Measure what the OCR reads, per script, on text drawn the way RenderHub draws it.

    python manage.py script_ocr [--backend rapidocr] [--seeds 3]

Each sample phrase is drawn by the built-in simulation (typos off, so every image is correct)
in the face apps.core.fonts picks for it, at 768×512, and verified by the gate against the
phrase. Prints per script: images, pass / review / fail and the share read exactly, with one
example of what was read. The phrases are `apps.verification.scripts.SAMPLES`;
`apps.verification.scripts.VERIFIED_SCRIPTS` is decided from this.
"""

from collections import Counter, defaultdict
from typing import Any

from django.core.management.base import BaseCommand

from apps.engines.adapters.builtin import BuiltinAdapter
from apps.engines.models import Engine
from apps.engines.types import EngineRequest
from apps.verification.gate import normalise, verify_image
from apps.verification.scripts import SAMPLES


class Command(BaseCommand):
    # An offline tool: it signs nothing and serves no one, so it runs without production settings.
    requires_system_checks: list[str] = []
    help = "Per-script OCR measurement on drawn text (built-in simulation, typos off)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--backend", default=None, help="OCR backend (default: the configured one).")
        parser.add_argument("--seeds", type=int, default=3, help="Images per phrase (different compositions).")

    def handle(self, *args: Any, **options: Any) -> None:
        adapter = BuiltinAdapter(Engine(slug="measure", adapter="builtin", params={"typo_rate": 0}))
        counts: dict[str, Counter] = defaultdict(Counter)
        examples: dict[str, str] = {}
        for script, phrases in SAMPLES.items():
            for phrase in phrases:
                for seed in range(options["seeds"]):
                    request = EngineRequest(
                        prompt=f'A poster with the title "{phrase}"', seed=seed, width=768, height=512
                    )
                    image, _ = adapter.render(request)
                    report = verify_image(
                        image=image, expected={"title": phrase}, regions={}, backend=options["backend"]
                    )
                    counts[script][report.verdict] += 1
                    exact = "".join(normalise(report.ocr_text)) == "".join(normalise(phrase))
                    counts[script]["exact"] += exact
                    if not exact and script not in examples:
                        examples[script] = f"{phrase!r} read {report.ocr_text!r}"
        self.stdout.write(
            "| script | images | pass | review | fail | read exactly (spaces aside) | example of a misread |"
        )
        self.stdout.write("|---|---|---|---|---|---|---|")
        for script, c in counts.items():
            n = c["pass"] + c["review"] + c["fail"]
            self.stdout.write(
                f"| {script} | {n} | {c['pass']} | {c['review']} | {c['fail']} | "
                f"{c['exact'] / n:.0%} | {examples.get(script, '–')} |"
            )
