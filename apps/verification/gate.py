"""The verification gate: does the image say exactly what was asked, and nothing else?

Word-bag comparison (order-insensitive, case and punctuation folded) per slot, read from the
slot's region; research/ocr.md shows it catches single-letter errors that an edit-distance
threshold lets through.
"""

import io
import re
import time
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field

from PIL import Image, UnidentifiedImageError

from apps.verification.ocr import OcrWord, ocr_backend

PASS, REVIEW, FAIL = "pass", "review", "fail"
_NON_ALNUM = re.compile(r"[^\w]+|_")


def normalise(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NON_ALNUM.sub(" ", text).split()


@dataclass
class Check:
    name: str
    status: str
    detail: str
    evidence: dict[str, object] = field(default_factory=dict)


@dataclass
class GateReport:
    verdict: str
    reasons: list[str]
    checks: list[Check]
    ocr_text: str
    words: list[dict[str, object]]
    backend: str
    seconds: float

    def checks_as_dicts(self) -> list[dict[str, object]]:
        return [asdict(c) for c in self.checks]


def _crop_box(size: tuple[int, int], region: list[float], pad: int = 8) -> tuple[int, int, int, int]:
    w, h = size
    return (
        max(0, int(region[0] * w) - pad),
        max(0, int(region[1] * h) - pad),
        min(w, int(region[2] * w) + pad),
        min(h, int(region[3] * h) + pad),
    )


def compare_words(expected: str, read: str) -> Check:
    want, got = Counter(normalise(expected)), Counter(normalise(read))
    missing = sorted((want - got).elements())
    extra = sorted((got - want).elements())
    if not missing and not extra:
        return Check("text", PASS, "Text matches.", {"expected": expected, "read": read})
    detail = []
    if missing:
        detail.append("missing " + ", ".join(missing))
    if extra:
        detail.append("unexpected " + ", ".join(extra))
    return Check(
        "text", FAIL, "; ".join(detail), {"expected": expected, "read": read, "missing": missing, "extra": extra}
    )


def verify_image(
    *,
    image: bytes,
    expected: dict[str, str],
    regions: dict[str, list[float]],
    thresholds: dict | None = None,
    palette: list[str] | None = None,
) -> GateReport:
    """Read each slot's region and compare its words with the expected text."""
    started = time.perf_counter()
    backend = ocr_backend()
    try:
        img = Image.open(io.BytesIO(image), formats=["PNG", "JPEG", "WEBP"])
        img.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        check = Check("image", FAIL, f"Image cannot be decoded: {exc}")
        return GateReport(FAIL, [check.detail], [check], "", [], backend.name, time.perf_counter() - started)
    img = img.convert("RGB")
    checks: list[Check] = []
    words: list[dict[str, object]] = []
    texts: list[str] = []
    for slot, want in expected.items():
        region = regions.get(slot) or [0.0, 0.0, 1.0, 1.0]
        box = _crop_box(img.size, region)
        read: list[OcrWord] = backend.read(img.crop(box))
        line = " ".join(w.text for w in read)
        texts.append(line)
        for w in read:
            words.append(
                {
                    "slot": slot,
                    "text": w.text,
                    "conf": w.conf,
                    "box": [w.box[0] + box[0], w.box[1] + box[1], w.box[2] + box[0], w.box[3] + box[1]],
                }
            )
        check = compare_words(want, line)
        check.name = f"text:{slot}"
        checks.append(check)
    verdict = (
        FAIL if any(c.status == FAIL for c in checks) else REVIEW if any(c.status == REVIEW for c in checks) else PASS
    )
    reasons = [f"{c.name}: {c.detail}" for c in checks if c.status != PASS]
    return GateReport(verdict, reasons, checks, "\n".join(texts), words, backend.name, time.perf_counter() - started)
