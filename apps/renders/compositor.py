"""Deterministic text compositing: the engine draws the art, RenderHub sets the exact text.

For each slot: the slot's area is first cleared to a smooth fill of its own colours (an engine
asked for the art may still have lettered the slot, often misspelled, and those glyphs must not
compete with the set text); the text is fitted to the region (the largest size at which it
wraps to at most `max_lines` lines); its colour is the palette colour with the best WCAG
contrast against the region's actual background; when no colour reaches 4.5:1 a scrim is laid
under the text, darkening or lightening the area until one does. An optional logo is pasted
into its own region. Same inputs, same bytes. The result still goes through the gate.

Fonts are the open fonts shipped in `static/fonts/` (licences beside them); text the template's
font cannot draw (Greek, Cyrillic, Arabic, Hebrew, CJK) is set in the first face of
apps.core.fonts' chain that has every glyph (Debian's Noto fonts), shaped by Raqm.
"""

import io
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from apps.core.fonts import FontFace, default_face, face_for
from apps.core.images import load_image

FONT_DIR = Path(settings.BASE_DIR) / "static" / "fonts"
DEFAULT_FONT = "DejaVuSans-Bold.ttf"
MIN_CONTRAST = 4.5
FALLBACK_COLOURS = ["#ffffff", "#111111"]


@dataclass(frozen=True)
class Placement:
    slot: str
    lines: list[str]
    font_size: int
    colour: str
    contrast: float
    scrim: float  # alpha of the scrim, 0 when none was needed
    box: tuple[int, int, int, int]


def _hex(value: str) -> tuple[int, int, int]:
    value = value.strip().lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def _lin(c: float) -> float:
    c /= 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(rgb: tuple[int, int, int]) -> float:
    r, g, b = (_lin(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = luminance(a), luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def _worst_contrast(colour: tuple[int, int, int], background: Image.Image) -> float:
    """Contrast against the background's lightest and darkest parts (5th/95th percentile of
    luminance), so text stays legible over the whole region, not just its average."""
    grey = background.convert("L").resize((48, 16), Image.Resampling.BOX)
    values = sorted(grey.get_flattened_data())  # type: ignore[arg-type]
    lo, hi = values[len(values) // 20], values[-1 - len(values) // 20]
    small = background.resize((48, 16), Image.Resampling.BOX).convert("RGB")
    pixels = list(small.get_flattened_data())  # type: ignore[arg-type]
    by_grey = sorted(zip(grey.get_flattened_data(), pixels, strict=True))  # type: ignore[arg-type]
    darkest = next(p for g, p in by_grey if g >= lo)
    lightest = next(p for g, p in reversed(by_grey) if g <= hi)
    return min(contrast(colour, darkest), contrast(colour, lightest))


def _fit(
    draw: ImageDraw.ImageDraw, text: str, face: FontFace, box: tuple[int, int, int, int], max_lines: int
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest font size at which `text` wraps into `box` in at most `max_lines` lines."""
    width, height = box[2] - box[0], box[3] - box[1]
    words = text.split()
    for size in range(max(10, int(height * 0.8)), 9, -1):
        font = face.truetype(size)
        lines = _wrap(draw, words, font, width * 0.92)
        if lines and len(lines) <= max_lines and len(lines) * size * 1.2 <= height * 0.92:
            return font, lines
    font = face.truetype(10)
    return font, _wrap(draw, words, font, width * 0.92) or [text]


def _wrap(draw: ImageDraw.ImageDraw, words: list[str], font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    lines: list[str] = []
    current: list[str] = []
    for word in words:
        trial = " ".join([*current, word])
        if draw.textlength(trial, font=font) <= width:
            current.append(word)
            continue
        if not current:  # one word wider than the box: this size does not fit
            return []
        lines.append(" ".join(current))
        current = [word]
    if current:
        lines.append(" ".join(current))
    return lines


def _clear(img: Image.Image, box: tuple[int, int, int, int]) -> None:
    """Replace the box with a smooth fill of its own colours (erases stray lettering).

    The fill covers the whole box and fades out over a margin beyond it, so glyphs (and their
    shadows) touching the box's edges go too."""
    w, h = box[2] - box[0], box[3] - box[1]
    if w < 4 or h < 4:
        return
    margin = max(4, min(w, h) // 10)
    outer = (
        max(0, box[0] - margin),
        max(0, box[1] - margin),
        min(img.width, box[2] + margin),
        min(img.height, box[3] + margin),
    )
    ow, oh = outer[2] - outer[0], outer[3] - outer[1]
    smooth = img.crop(outer).resize((4, 2), Image.Resampling.BOX).resize((ow, oh), Image.Resampling.BICUBIC)
    mask = Image.new("L", (ow, oh), 0)
    ImageDraw.Draw(mask).rectangle(
        (
            box[0] - outer[0] - margin // 2,
            box[1] - outer[1] - margin // 2,
            box[2] - outer[0] + margin // 2,
            box[3] - outer[1] + margin // 2,
        ),
        fill=255,
    )
    mask = mask.filter(ImageFilter.GaussianBlur(margin / 4))
    img.paste(smooth, outer[:2], mask)


def _choose_colour(palette: list[str], background: Image.Image) -> tuple[str, float]:
    """The palette colour with the best worst-case contrast (near-white and near-black stand in
    for an empty palette); the caller lays a scrim when even that one is under 4.5:1."""
    candidates = [c for c in palette if len(c.strip().lstrip("#")) == 6] or FALLBACK_COLOURS
    scored = [(_worst_contrast(_hex(c), background), c) for c in candidates]
    score, colour = max(scored)
    return colour, score


def composite_text(
    *,
    image: bytes,
    texts: dict[str, str],
    regions: dict[str, list[float]],
    palette: list[str],
    font: str = DEFAULT_FONT,
    max_lines: int = 2,
    clear: bool = True,
    logo: bytes | None = None,
    logo_region: list[float] | None = None,
    placements: list[Placement] | None = None,
) -> bytes:
    """Set each slot's text into its region and return a PNG.

    A slot without a region goes in a band across the lower third. `placements`, when a list
    is given, receives what was drawn where (for tests and the attempt's record).
    """
    img = load_image(image)
    w, h = img.size
    font_path = FONT_DIR / font
    draw = ImageDraw.Draw(img)
    for slot, text in texts.items():
        region = regions.get(slot) or [0.06, 0.62, 0.94, 0.92]
        box = (int(region[0] * w), int(region[1] * h), int(region[2] * w), int(region[3] * h))
        if clear:
            _clear(img, box)
        # The template's font when it has every glyph, else the first face of the chain that does.
        face = face_for(text, first=font_path) or default_face()
        fitted, lines = _fit(draw, text, face, box, max_lines)
        size = fitted.size
        line_h = size * 1.2
        total_h = line_h * len(lines)
        widths = [draw.textlength(line, font=fitted) for line in lines]
        text_box = (
            int(box[0] + (box[2] - box[0] - max(widths)) / 2) - size // 4,
            int(box[1] + (box[3] - box[1] - total_h) / 2) - size // 6,
            int(box[0] + (box[2] - box[0] + max(widths)) / 2) + size // 4,
            int(box[1] + (box[3] - box[1] + total_h) / 2) + size // 6,
        )
        background = img.crop(text_box)
        colour, score = _choose_colour(palette, background)
        alpha = 0.0
        if score < MIN_CONTRAST:
            # Scrim: darken (for light text) or lighten (for dark text) until the target is met.
            ink = _hex(colour)
            shade = (0, 0, 0) if contrast(ink, (0, 0, 0)) >= contrast(ink, (255, 255, 255)) else (255, 255, 255)
            for step in range(1, 11):
                alpha = step / 10
                veiled = Image.blend(background, Image.new("RGB", background.size, shade), alpha)
                score = _worst_contrast(ink, veiled)
                if score >= MIN_CONTRAST:
                    break
            if score < MIN_CONTRAST:  # a mid-tone ink no scrim can carry: white on black
                colour = "#ffffff" if shade == (0, 0, 0) else "#111111"
                score = contrast(_hex(colour), shade)
            overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
            ImageDraw.Draw(overlay).rounded_rectangle(text_box, radius=size // 5, fill=(*shade, int(alpha * 255)))
            img = Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")
            draw = ImageDraw.Draw(img)
        y = box[1] + (box[3] - box[1] - total_h) / 2
        for line, width in zip(lines, widths, strict=True):
            draw.text((box[0] + (box[2] - box[0] - width) / 2, y), line, font=fitted, fill=_hex(colour))
            y += line_h
        if placements is not None:
            placements.append(Placement(slot, lines, size, colour, round(score, 2), alpha, text_box))
    if logo:
        mark = load_image(logo, alpha="keep").convert("RGBA")
        region = logo_region or [0.84, 0.04, 0.96, 0.2]
        box = (int(region[0] * w), int(region[1] * h), int(region[2] * w), int(region[3] * h))
        mark.thumbnail((box[2] - box[0], box[3] - box[1]))
        base = img.convert("RGBA")
        base.alpha_composite(mark, (box[2] - mark.width, box[1]))
        img = base.convert("RGB")
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue()
