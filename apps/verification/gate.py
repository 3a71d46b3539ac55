"""The verification gate: does the image say exactly what was asked, and nothing else?

One OCR pass over the whole image (the detector's side capped, research/ocr.md), then each
word is assigned to the slot whose region (with a tolerance) holds its centre; words in no
slot are "outside" text. Checks, each with a status and its evidence:

- ``image``: decodes as PNG/JPEG/WEBP within the pixel cap, not blank, the requested shape;
- ``text:<slot>``: normalised word bags (order-insensitive, case and punctuation folded) —
  PASS identical (and in order), REVIEW identical only after folding diacritics and dropping
  ornament tokens or with low recognition confidence, FAIL otherwise; evidence lists missing,
  extra and misspelled words, the edit distance and the CER;
- ``extra_text``: confident words outside every slot (hallucinated extra words);
- ``layout:<slot>``: the slot's word boxes inside its region, with a tolerance;
- ``legibility:<slot>``: minimum text height and the WCAG contrast ratio of text against its
  background;
- ``palette``: the image's dominant colours within a ΔE of the template's palette.

Word bags, not an edit-distance threshold: a one-letter error in a 30-character title is a
normalised edit distance of 0.03, below any threshold that keeps false rejects tolerable.
Thresholds have defaults (`DEFAULT_THRESHOLDS`) and each template may override them.
This module knows nothing of jobs: it takes bytes and expectations and returns a report.
"""

import functools
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError

from apps.core.images import load_image
from apps.verification.ocr import OcrWord, ocr_backend
from apps.verification.text import (
    FAIL,
    PASS,
    REVIEW,
    SKIP,
    SlotResult,
    Token,
    compare_slot,
    fold,
    levenshtein,
    normalise,
    read_tokens,
    resolve_second_opinions,
    vertical_lines,
)

NO_EXPECTED_TEXT = "not verified: no expected text"

__all__ = ["FAIL", "NO_EXPECTED_TEXT", "PASS", "REVIEW", "SKIP", "fold", "levenshtein", "normalise"]

DEFAULT_THRESHOLDS: dict[str, Any] = {
    # Words whose lowest recognition score is below this make an otherwise matching slot REVIEW.
    "low_confidence": 0.5,
    # A word belongs to a slot when its centre lies in the region grown by this share of the side.
    "slot_tolerance": 0.05,
    # Word boxes may overflow their region by this share of the image side before layout flags it.
    "layout_tolerance": 0.04,
    # Words outside every slot count as extra text from this recognition score and length on.
    "extra_text_min_conf": 0.8,
    "extra_text_min_chars": 2,
    # "fail" | "review" | "ignore": confident text outside every slot's region (templates).
    "outside_text": "fail",
    # "fail" | "review" | "ignore": lines that share nothing with the expected text (small print,
    # labels) on a slot without a region (free prompts) or inside a slot's region.
    "other_text": "review",
    # A slot with text set vertically is read again with angle classification unless every word
    # on its vertical lines was read at least this confidently: a line read upside down comes back
    # as fragments (dev split: ≤ 0.84 for the least sure word), one read the right way up as
    # words (≥ 0.92). A wrong skip can only leave a REVIEW, never a FAIL (vertical words never fail).
    "upright_min_conf": 0.9,
    # A misspelling, missing or extra word is a FAIL only when read at least this confidently;
    # below it the word gets a second opinion or goes to REVIEW.
    "fail_min_conf": 0.8,
    # "fail" | "review" | "ignore": the right words in another order.
    "word_order": "fail",
    # "pass" | "review" | "fail": the right letters in order, split or joined differently. The
    # recogniser segments tracked or condensed type unreliably ("SUMM ER", "DESIGNFOOTBALL"),
    # and none of the hallucinations we look for keeps every letter in place.
    "spacing": "pass",
    "min_text_px": 10,
    "min_contrast": 1.5,
    "palette_max_delta_e": 30.0,
    "palette_min_coverage": 0.5,
    # Standard deviation (largest of R, G, B) under which an image is blank.
    "blank_std": 3.0,
    # Relative difference of aspect ratio from the requested size that fails the image.
    "aspect_tolerance": 0.05,
    "min_side": 32,
}


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
    size: tuple[int, int] = (0, 0)

    def checks_as_dicts(self) -> list[dict[str, object]]:
        return [asdict(c) for c in self.checks]

    def as_dict(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "reasons": self.reasons,
            "checks": self.checks_as_dicts(),
            "ocr_text": self.ocr_text,
            "words": self.words,
            "backend": self.backend,
            "seconds": round(self.seconds, 4),
        }


def _verdict(checks: list[Check]) -> str:
    statuses = {c.status for c in checks}
    return FAIL if FAIL in statuses else REVIEW if REVIEW in statuses else PASS


# --- Text --------------------------------------------------------------------------------


class _Word:
    def __init__(self, text: str, conf: float) -> None:
        self.text, self.conf, self.line, self.box = text, conf, 0, None


def compare_words(
    expected: str, read: str, *, confidences: list[float] | None = None, thresholds: dict[str, Any] | None = None
) -> Check:
    """Compare one slot's expected text with a read string (words split on spaces; `confidences`
    per word). The gate itself uses `text.compare_slot` on the OCR words with their boxes."""
    limits = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    parts = read.split()
    confs = confidences if confidences and len(confidences) == len(parts) else [1.0] * len(parts)
    if confidences and len(confidences) != len(parts):
        confs = [min(confidences)] * len(parts)
    words = [_Word(text, conf) for text, conf in zip(parts, confs, strict=True)]
    result = compare_slot(expected, read_tokens(words), limits, split_other=False)
    return Check("text", result.status, result.detail, result.evidence)


# --- Geometry and colour -------------------------------------------------------------------


def _region_px(size: tuple[int, int], region: list[float], grow: float = 0.0) -> tuple[float, float, float, float]:
    w, h = size
    return (
        (region[0] - grow) * w,
        (region[1] - grow) * h,
        (region[2] + grow) * w,
        (region[3] + grow) * h,
    )


def _inside(point: tuple[float, float], box: tuple[float, float, float, float]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def _centre(box: tuple[int, int, int, int]) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def _srgb_to_linear(values: Any) -> Any:
    import numpy as np

    c = np.asarray(values, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def relative_luminance(rgb: Any) -> Any:
    """WCAG 2 relative luminance of sRGB colour(s) given as 0..255 (last axis RGB)."""
    lin = _srgb_to_linear(rgb)
    return 0.2126 * lin[..., 0] + 0.7152 * lin[..., 1] + 0.0722 * lin[..., 2]


def contrast_ratio(a: Any, b: Any) -> float:
    la, lb = float(relative_luminance(a)), float(relative_luminance(b))
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def hex_rgb(value: str) -> tuple[int, int, int]:
    value = value.strip().lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def rgb_to_lab(rgb: Any) -> Any:
    """sRGB (0..255, last axis) → CIE L*a*b* (D65)."""
    import numpy as np

    lin = _srgb_to_linear(rgb)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


@functools.cache
def _linear_lut() -> Any:
    """`_srgb_to_linear` of every 8-bit value (256 float64s): the gate indexes it instead of
    raising each pixel of a text box to the power 2.4 (the same numbers, ~10x less CPU)."""
    import numpy as np

    return _srgb_to_linear(np.arange(256, dtype=np.float64))


@functools.cache
def _weighted_luts() -> tuple[Any, Any, Any]:
    """Each channel's share of the relative luminance, per 8-bit value (the WCAG weights)."""
    lin = _linear_lut()
    return 0.2126 * lin, 0.7152 * lin, 0.0722 * lin


def _luminance_u8(channels: Any) -> Any:
    """WCAG relative luminance of 8-bit RGB pixels (3×N uint8, one row a channel)."""
    red, green, blue = _weighted_luts()
    return red[channels[0]] + green[channels[1]] + blue[channels[2]]


def _split_medians(channels: Any, mask: Any) -> tuple[Any, Any, int, int]:
    """Per-channel medians of the pixels where `mask` is true and of the rest, from 256-bin
    counts (equal to `np.median(..., axis=0)`, which would sort each class of a 3×N image).
    Returns (medians in mask, medians out of it, pixels in, pixels out); a class with no
    pixel has medians of 0."""
    import numpy as np

    inside = int(np.count_nonzero(mask))
    outside = len(mask) - inside
    offset = np.where(mask, 0, 256)
    medians: list[list[float]] = [[], []]
    for row in channels:
        counts = np.bincount(row + offset, minlength=512)
        for part, (n, cum) in enumerate(((inside, counts[:256].cumsum()), (outside, counts[256:].cumsum()))):
            if n == 0:
                medians[part].append(0.0)
                continue
            # The values at sorted positions (n-1)//2 and n//2; their mean, like np.median.
            lo = int(np.searchsorted(cum, (n - 1) // 2, side="right"))
            hi = int(np.searchsorted(cum, n // 2, side="right"))
            medians[part].append((lo + hi) / 2)
    return np.array(medians[0]), np.array(medians[1]), inside, outside


def _otsu_cut(lum: Any) -> float:
    """The luminance that splits `lum` (0..1) in two classes with the most variance between."""
    import numpy as np

    hist, edges = np.histogram(lum, bins=64, range=(0.0, 1.0))
    weights = hist.astype(np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    total, best, cut = weights.sum(), -1.0, 0.5
    cum_w, cum_m = np.cumsum(weights), np.cumsum(weights * centres)
    for k in range(63):
        w0, w1 = cum_w[k], total - cum_w[k]
        if w0 == 0 or w1 == 0:
            continue
        m0, m1 = cum_m[k] / w0, (cum_m[-1] - cum_m[k]) / w1
        between = w0 * w1 * (m0 - m1) ** 2
        if between > best:
            best, cut = between, edges[k + 1]
    return float(cut)


def text_contrast(img: Image.Image, box: tuple[int, int, int, int]) -> tuple[float, list[int], list[int]]:
    """Contrast of the text in `box` against its background: the box's pixels are split in two
    by luminance (Otsu); the smaller class is the glyphs. Returns ratio, text and background RGB."""
    import numpy as np

    # 8-bit pixels throughout: luminance from a lookup table, medians from 256-bin counts. The
    # figures equal those of the float64 version this replaced (tests/verification/test_gate_speed.py).
    crop = np.asarray(img.crop(box).convert("RGB"), dtype=np.uint8).reshape(-1, 3)
    if len(crop) < 4:
        return 21.0, [0, 0, 0], [255, 255, 255]
    channels = np.ascontiguousarray(crop.T).astype(np.intp)
    lum = _luminance_u8(channels)
    cut = _otsu_cut(lum)
    dark_median, light_median, dark, light = _split_medians(channels, lum < cut)
    if dark == 0 or light == 0:
        return 1.0, [int(v) for v in crop.mean(0)], [int(v) for v in crop.mean(0)]
    # Medians resist anti-aliased edges and stray background texture.
    t, g = (dark_median, light_median) if dark < light else (light_median, dark_median)
    return round(contrast_ratio(t, g), 2), [int(v) for v in t], [int(v) for v in g]


def glyph_height(img: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Height in pixels of the glyphs in an OCR word `box`: the rows holding pixels of the
    glyphs' luminance class (text_contrast's Otsu split, the smaller class), at most the box's.

    Detectors pad their boxes (measured with RapidOCR: capitals 37 px high come back in a box
    57 px high, capitals 8 px high in one 21 px high), so a box's height overstates the text's,
    and small text passed the min_text_px check whatever its size."""
    import numpy as np

    x0, y0, x1, y1 = (int(v) for v in box)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(img.width, x1), min(img.height, y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return max(0, y1 - y0)
    pixels = np.asarray(img.crop((x0, y0, x1, y1)).convert("RGB"), dtype=np.uint8)
    # The lookup-table luminance text_contrast uses (the same figures as the float64 formula).
    lum = _luminance_u8(np.moveaxis(pixels, -1, 0).astype(np.intp))
    cut = _otsu_cut(lum)
    dark = lum < cut
    glyphs = dark if dark.sum() < dark.size / 2 else ~dark
    rows = np.flatnonzero(glyphs.sum(axis=1) >= max(1, 0.01 * (x1 - x0)))
    return int(rows[-1] - rows[0] + 1) if len(rows) else y1 - y0


def _palette_distance(lab: Any, targets: Any) -> float:
    """ΔE*ab (CIE76) from a colour to the palette: to the nearest palette colour or to a blend
    of two of them (gradients and soft edges between palette colours are on-palette)."""
    import numpy as np

    best = float(np.min(np.linalg.norm(targets - lab, axis=-1)))
    for i in range(len(targets)):
        for j in range(i + 1, len(targets)):
            a, b = targets[i], targets[j]
            span = b - a
            t = float(np.clip(np.dot(lab - a, span) / max(float(np.dot(span, span)), 1e-9), 0.0, 1.0))
            best = min(best, float(np.linalg.norm(a + t * span - lab)))
    return best


def palette_check(img: Image.Image, palette: list[str], limits: dict[str, Any]) -> Check:
    import numpy as np

    colours = []
    for value in palette:
        try:
            colours.append(hex_rgb(value))
        except (ValueError, IndexError):
            continue
    if not colours:
        return Check("palette", SKIP, "No palette to compare with.")
    small = img.resize((96, 64), Image.Resampling.BOX).quantize(colors=8, method=Image.Quantize.MEDIANCUT)
    counts = sorted(small.getcolors() or [], reverse=True)
    lut = small.getpalette() or []
    total = sum(n for n, _ in counts)
    targets = rgb_to_lab(np.array(colours, dtype=np.float64))
    dominant, covered = [], 0
    for n, index in counts:
        rgb = lut[index * 3 : index * 3 + 3]
        delta = _palette_distance(rgb_to_lab(np.array(rgb, dtype=np.float64)), targets)
        share = n / total
        hex_value = "#{:02x}{:02x}{:02x}".format(*rgb)
        dominant.append({"rgb": hex_value, "share": round(share, 3), "delta_e": round(delta, 1)})
        if delta <= limits["palette_max_delta_e"]:
            covered += n
    coverage = covered / max(1, total)
    evidence = {"dominant": dominant, "coverage": round(coverage, 3), "palette": palette}
    if coverage >= limits["palette_min_coverage"]:
        return Check("palette", PASS, f"{coverage:.0%} of the image is within ΔE of the palette.", evidence)
    return Check("palette", REVIEW, f"Only {coverage:.0%} of the image is near the template's palette.", evidence)


# --- Image -------------------------------------------------------------------------------


def decode_image(data: bytes) -> Image.Image:
    """Decode untrusted bytes as a viewer shows them (apps.core.images.load_image: allowlisted
    formats, pixel cap, first frame, EXIF orientation, 16-bit scaled, transparency flattened
    onto the ground that keeps the text readable). Raises ImageLoadError (a ValueError)."""
    return load_image(data)


def image_check(img: Image.Image, size: tuple[int, int] | None, limits: dict[str, Any]) -> Check:
    from PIL import ImageStat

    w, h = img.size
    evidence: dict[str, object] = {"size": [w, h], "requested": list(size) if size else None}
    if min(w, h) < limits["min_side"]:
        return Check("image", FAIL, f"The image is too small ({w}x{h}).", evidence)
    # Per channel: two colours of equal luminance (an orange-to-green gradient) are not blank.
    std = max(ImageStat.Stat(img.reduce(4) if min(w, h) >= 64 else img).stddev)
    evidence["colour_std"] = round(std, 2)
    if std < limits["blank_std"]:
        if std == 0:
            return Check("image", FAIL, "The image is blank (one flat colour).", evidence)
        # Not proof of an empty image: faint text on a near-equal ground looks like this too.
        return Check(
            "image",
            FAIL,
            f"The image is nearly one flat colour (spread {std:.1f} of 255): blank, or whatever is drawn "
            "on it has too little contrast to read.",
            evidence,
        )
    if size:
        want, got = size[0] / size[1], w / h
        if abs(got - want) / want > limits["aspect_tolerance"]:
            return Check("image", FAIL, f"Wrong size: {w}x{h}, asked for {size[0]}x{size[1]}.", evidence)
        if (w, h) != tuple(size):
            return Check("image", PASS, f"Scaled: {w}x{h} for {size[0]}x{size[1]} (same shape).", evidence)
    return Check("image", PASS, f"{w}x{h}, decodes, not blank.", evidence)


# --- The gate ----------------------------------------------------------------------------


def _assign(
    words: list[OcrWord], slot_boxes: dict[str, tuple[float, float, float, float]], grown: dict[str, Any]
) -> tuple[dict[str, list[OcrWord]], list[OcrWord]]:
    by_slot: dict[str, list[OcrWord]] = {name: [] for name in slot_boxes}
    outside: list[OcrWord] = []
    for word in words:
        centre = _centre(word.box)
        holders = [name for name in slot_boxes if _inside(centre, grown[name])]
        if not holders:
            outside.append(word)
            continue
        exact = [name for name in holders if _inside(centre, slot_boxes[name])]
        pick = (exact or holders)[0]
        if len(exact or holders) > 1:
            pick = min(
                exact or holders,
                key=lambda n: abs(_centre(tuple(int(v) for v in slot_boxes[n]))[1] - centre[1]),  # type: ignore[arg-type]
            )
        by_slot[pick].append(word)
    return by_slot, outside


def verify_image(
    *,
    image: bytes,
    expected: dict[str, str],
    regions: dict[str, list[float]],
    thresholds: dict | None = None,
    palette: list[str] | None = None,
    size: tuple[int, int] | None = None,
    backend: str | None = None,
) -> GateReport:
    """Read the image once and run every check; the verdict is the worst check's status.

    `regions` maps slot → [x0, y0, x1, y1] as fractions; a slot without a region may be
    anywhere (the whole image). `size` is the requested width × height, when known.
    """
    started = time.perf_counter()
    limits = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    ocr = ocr_backend(backend)
    try:
        img = decode_image(image)
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as exc:
        check = Check("image", FAIL, f"The image cannot be decoded: {exc}")
        return GateReport(FAIL, [f"image: {check.detail}"], [check], "", [], ocr.name, time.perf_counter() - started)
    checks = [image_check(img, size, limits)]
    if checks[0].status == FAIL:
        return GateReport(
            FAIL,
            [f"image: {checks[0].detail}"],
            checks,
            "",
            [],
            ocr.name,
            time.perf_counter() - started,
            img.size,
        )

    if not any(normalise(text) for text in expected.values()):
        # Nothing to compare (no text, or only symbols the comparison folds away): never "pass".
        checks.append(Check("text", REVIEW, NO_EXPECTED_TEXT, {"expected": expected}))
        reasons = [f"text: {NO_EXPECTED_TEXT}"]
        return GateReport(REVIEW, reasons, checks, "", [], ocr.name, time.perf_counter() - started, img.size)

    read = ocr.read(img)
    # Slots with a region get the words centred in it; slots without one share the rest of
    # the image (several are compared as one bag, since their order on the canvas is unknown).
    placed = {name: regions[name] for name in expected if regions.get(name)}
    loose = [name for name in expected if name not in placed]
    targets = {name: expected[name] for name in placed}
    if len(loose) == 1:
        targets[loose[0]] = expected[loose[0]]
    elif loose:
        targets["+".join(loose)] = " ".join(expected[name] for name in loose)
    slot_boxes = {name: _region_px(img.size, region) for name, region in placed.items()}
    grown = {name: _region_px(img.size, region, limits["slot_tolerance"]) for name, region in placed.items()}
    by_slot, outside = _assign(read, slot_boxes, grown)
    if loose:
        by_slot[next(name for name in targets if name not in placed)] = outside
        outside = []

    words_out: list[dict[str, object]] = []
    texts: list[str] = []
    other_tokens: list[Token] = []
    for slot, want in targets.items():
        slot_words = sorted(
            by_slot[slot], key=lambda w: w.line
        )  # the recogniser reads each line in order (also vertical ones)
        line = " ".join(w.text for w in slot_words)
        texts.append(line)
        slot_limits = limits if slot in expected else {**limits, "word_order": "ignore"}
        result = compare_slot(want, read_tokens(slot_words), slot_limits)
        if (
            result.status != PASS
            and _worth_upright_read(result, slot_words, limits["upright_min_conf"])
            and hasattr(ocr, "read_upright")
        ):
            upright = _upright_slot_words(ocr, img, slot, placed, slot_boxes, grown, bool(loose), slot_words)
            again = compare_slot(want, read_tokens(upright), slot_limits)
            if again.status == PASS or again.evidence["edit_distance"] < result.evidence["edit_distance"]:  # type: ignore[operator]
                again.evidence["read_upright"] = True
                result, slot_words = again, upright
                line = " ".join(w.text for w in slot_words)
                texts[-1] = line
        if result.evidence.get("second_opinion"):
            result = _second_opinion(img, result, ocr)
        other_tokens.extend(result.other_text)
        checks.append(Check(f"text:{slot}", result.status, result.detail, result.evidence))
        wanted = set(normalise(want))
        for w in slot_words:
            tokens = normalise(w.text)
            words_out.append(
                {
                    "slot": slot,
                    "text": w.text,
                    "conf": round(w.conf, 4),
                    "box": list(w.box),
                    "match": bool(tokens) and all(t in wanted for t in tokens),
                }
            )
        checks.extend(_geometry_checks(img, slot, slot_words, slot_boxes.get(slot), placed.get(slot), limits))

    # Extra words on an expected line are the text check's to judge; name them here too, so
    # other_text's "pass" never sits beside "unexpected NEW" claiming there was no other text.
    in_line = [
        str(reason)
        for c in checks
        if c.name.startswith("text:")
        for reason in [*c.evidence.get("fail_reasons", []), *c.evidence.get("review_reasons", [])]  # type: ignore[misc]
        if str(reason).startswith(("unexpected ", "unsure extra text "))
    ]
    checks.append(_other_text_check(other_tokens, limits, in_line=in_line))
    strays = [
        w
        for w in outside
        if w.conf >= limits["extra_text_min_conf"] and len("".join(normalise(w.text))) >= limits["extra_text_min_chars"]
    ]
    for w in outside:
        words_out.append({"slot": "", "text": w.text, "conf": round(w.conf, 4), "box": list(w.box), "match": False})
    evidence: dict[str, object] = {
        "words": [{"text": w.text, "conf": round(w.conf, 3), "box": list(w.box)} for w in outside],
    }
    if strays and limits["outside_text"] != "ignore":
        checks.append(
            Check(
                "extra_text",
                FAIL if limits["outside_text"] == "fail" else REVIEW,
                "Text outside the slots: " + ", ".join(f"“{w.text}”" for w in strays),
                evidence,
            )
        )
    else:
        checks.append(Check("extra_text", PASS, "No text outside the slots.", evidence))

    if palette:
        checks.append(palette_check(img, palette, limits))

    verdict = _verdict(checks)
    reasons = [f"{c.name}: {c.detail}" for c in checks if c.status in (REVIEW, FAIL)]
    if outside:
        texts.append(" ".join(w.text for w in outside))
    return GateReport(
        verdict,
        reasons,
        checks,
        "\n".join(t for t in texts if t),
        words_out,
        ocr.name,
        time.perf_counter() - started,
        img.size,
    )


def _worth_upright_read(result: SlotResult, words: list[OcrWord], min_conf: float) -> bool:
    """Text the recogniser could not read, or vertical lines with a word read with confidence
    under `min_conf`: a read with angle classification may find the orientation the text is set
    in. Vertical lines read confidently were read the right way up (the recogniser turns tall
    lines a quarter turn; only text turned the other way comes back upside down, as fragments),
    and reading them again costs as much as the first read."""
    if result.evidence.get("unreadable"):
        return True
    vertical = vertical_lines(words)
    return any(w.conf < min_conf for w in words if w.line in vertical)


def _upright_slot_words(
    ocr: Any,
    img: Image.Image,
    slot: str,
    placed: dict[str, list[float]],
    slot_boxes: dict[str, tuple[float, float, float, float]],
    grown: dict[str, Any],
    loose: bool,
    words: list[OcrWord],
) -> list[OcrWord]:
    """The slot read again with angle classification, on the crop around what was found there
    (the slot's region, or the whole image when nothing was found), boxes in image pixels."""
    if slot in placed:
        x0, y0, x1, y1 = (int(v) for v in grown[slot])
    elif words:
        pad = max(max(w.box[3] - w.box[1], w.box[2] - w.box[0]) for w in words) // 2
        x0, y0 = min(w.box[0] for w in words) - pad, min(w.box[1] for w in words) - pad
        x1, y1 = max(w.box[2] for w in words) + pad, max(w.box[3] for w in words) + pad
    else:
        x0, y0, x1, y1 = 0, 0, img.width, img.height
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(img.width, x1), min(img.height, y1)
    found = ocr.read_upright(img.crop((x0, y0, x1, y1)))
    shifted = [
        OcrWord(w.text, (w.box[0] + x0, w.box[1] + y0, w.box[2] + x0, w.box[3] + y0), w.conf, w.line) for w in found
    ]
    return sorted(shifted, key=lambda w: w.line)


SECOND_OPINIONS_PER_SLOT = 3


def _second_opinion(img: Image.Image, result: SlotResult, ocr: Any) -> SlotResult:
    from apps.verification.second_opinion import second_reads

    items = result.evidence.get("second_opinion") or []
    # A slot full of doubtful words is a REVIEW anyway: re-read only the first few (bounded cost).
    reads = [
        second_reads(img, item.get("box"), engine=ocr) if i < SECOND_OPINIONS_PER_SLOT else []
        for i, item in enumerate(items)  # type: ignore[arg-type]
    ]
    return resolve_second_opinions(result, reads, first_engine=ocr.name)


def _other_text_check(other: list[Token], limits: dict[str, Any], *, in_line: list[str] | None = None) -> Check:
    """Lines that share nothing with the expected text: small print, labels, pseudo-text.
    `in_line`: the text checks' reasons about extra words on the expected lines (judged there)."""
    shown = [
        t
        for t in other
        if t.conf >= limits["extra_text_min_conf"]
        and (t.kind != "word" or len(t.norm) >= limits["extra_text_min_chars"])
    ]
    lines: dict[int, list[str]] = {}
    for t in shown:
        lines.setdefault(t.line, []).append(t.raw)
    evidence: dict[str, object] = {"lines": [" ".join(words) for words in lines.values()]}
    if shown and limits["other_text"] == "ignore":
        listed = "; ".join(f"“{line}”" for line in evidence["lines"])  # type: ignore[attr-defined]
        return Check("other_text", PASS, f"Other text ignored (other_text: ignore): {listed}", evidence)
    if not shown and in_line:
        return Check(
            "other_text",
            PASS,
            "No separate line of other text; extra words on the expected lines are judged by the text check ("
            + "; ".join(in_line)
            + ").",
            evidence,
        )
    if not shown:
        return Check("other_text", PASS, "No other text beside the expected words.", evidence)
    status = FAIL if limits["other_text"] == "fail" else REVIEW
    listed = "; ".join(f"“{line}”" for line in evidence["lines"])  # type: ignore[attr-defined]
    return Check("other_text", status, f"Other text beside the expected words: {listed}", evidence)


def _geometry_checks(
    img: Image.Image,
    slot: str,
    words: list[OcrWord],
    box: tuple[float, float, float, float] | None,
    region: list[float] | None,
    limits: dict[str, Any],
) -> list[Check]:
    if not words:
        return []
    checks = []
    if region and box:
        tol_x, tol_y = limits["layout_tolerance"] * img.width, limits["layout_tolerance"] * img.height
        over = [
            {"text": w.text, "box": list(w.box)}
            for w in words
            if w.box[0] < box[0] - tol_x
            or w.box[1] < box[1] - tol_y
            or w.box[2] > box[2] + tol_x
            or w.box[3] > box[3] + tol_y
        ]
        evidence = {"region": [round(v) for v in box], "overflowing": over}
        if over:
            checks.append(Check(f"layout:{slot}", REVIEW, f"{len(over)} word(s) overflow the slot's region.", evidence))
        else:
            checks.append(Check(f"layout:{slot}", PASS, "Text sits inside its region.", evidence))
    # Punctuation and one-letter tokens get degenerate boxes; measure the words.
    measured = [w for w in words if len("".join(normalise(w.text))) >= 2] or words
    heights = [glyph_height(img, w.box) for w in measured]
    union = (
        max(0, min(w.box[0] for w in words)),
        max(0, min(w.box[1] for w in words)),
        min(img.width, max(w.box[2] for w in words)),
        min(img.height, max(w.box[3] for w in words)),
    )
    ratio, text_rgb, ground_rgb = text_contrast(img, union)
    evidence = {
        "min_height_px": min(heights),
        "contrast": ratio,
        "text_rgb": text_rgb,
        "background_rgb": ground_rgb,
    }
    problems = []
    if min(heights) < limits["min_text_px"]:
        problems.append(f"text {min(heights)} px high (min {limits['min_text_px']})")
    if ratio < limits["min_contrast"]:
        problems.append(f"contrast {ratio}:1 (min {limits['min_contrast']}:1)")
    if problems:
        checks.append(Check(f"legibility:{slot}", REVIEW, "; ".join(problems), evidence))
    else:
        checks.append(Check(f"legibility:{slot}", PASS, f"Contrast {ratio}:1, {min(heights)} px high.", evidence))
    return checks
