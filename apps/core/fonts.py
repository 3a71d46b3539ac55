"""The typefaces RenderHub draws text with, and which characters they can draw.

The built-in simulation and the compositor set text with the first face of a chain that has a
glyph for every character of that text (read from the font's cmap with fontTools, so a
character no face has is known before anything is drawn, instead of showing up as an empty
box). Faces, bold, in order:

1. ``static/fonts/DejaVuSans-Bold.ttf`` (shipped: Latin, Greek, Cyrillic, Hebrew, Arabic);
2. Noto Sans Bold (Debian ``fonts-noto-core``: Latin, Greek, Cyrillic);
3. Noto Sans Arabic Bold, Noto Sans Hebrew Bold (``fonts-noto-core``), preferred for text in
   those scripts;
4. Noto Sans CJK Bold (Debian ``fonts-noto-cjk``), the Simplified Chinese face, or the
   Japanese / Korean face when the text has kana / Hangul.

Faces whose file is not installed are left out of the chain. Right-to-left text is shaped by
Pillow's Raqm layout (``PIL.features.check("raqm")``; the Pillow wheels bundle it, FriBiDi
comes from Debian's ``libfribidi0``).
"""

import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from PIL import ImageFont

from apps.core.scripts import CJK, scripts_in

STATIC_FONTS = Path(settings.BASE_DIR) / "static" / "fonts"
NOTO = Path("/usr/share/fonts/truetype/noto")
NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
# Faces inside NotoSansCJK-Bold.ttc (fontTools' TTCollection order).
CJK_INDEX = {"ja": 0, "ko": 1, "zh-hans": 2}


@dataclass(frozen=True)
class FontFace:
    """One face of a font file (`index` selects the face in a .ttc collection)."""

    name: str
    path: Path
    index: int = 0

    def truetype(self, size: int) -> ImageFont.FreeTypeFont:
        """This face at `size` px, loaded once per process while it stays among the
        `FONTS_CACHED` most recently used (see `_font`). Callers must not change the font
        object (e.g. set a variation): it is shared."""
        return _font(str(self.path), self.index, size)


# A loaded size holds ~0.2 MB (DejaVu) to ~2.5 MB (the CJK collection), measured with RSS;
# text fitting visits 10–30 sizes of one face per text box.
FONTS_CACHED = 32


@functools.lru_cache(maxsize=FONTS_CACHED)
def _font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    """Loading parses the font file, and text fitting tries dozens of sizes per render, so the
    fonts are kept. Shared by threads (the engine workers' thread pools, engine_server's thread
    per request): Pillow's FreeType binding holds the GIL through every call (its
    `_imagingft` extension never calls PyEval_SaveThread), so no two threads use one face at once."""
    return ImageFont.truetype(path, size, index=index)


@functools.cache
def _faces() -> list[FontFace]:
    """The chain's faces whose files are installed, looked up once per process (like their
    code points, `_codepoints`): every submission asks, twice per text."""
    candidates = [
        FontFace("DejaVu Sans Bold", STATIC_FONTS / "DejaVuSans-Bold.ttf"),
        FontFace("Noto Sans Bold", NOTO / "NotoSans-Bold.ttf"),
        FontFace("Noto Sans Arabic Bold", NOTO / "NotoSansArabic-Bold.ttf"),
        FontFace("Noto Sans Hebrew Bold", NOTO / "NotoSansHebrew-Bold.ttf"),
        FontFace("Noto Sans CJK SC Bold", NOTO_CJK, CJK_INDEX["zh-hans"]),
        FontFace("Noto Sans CJK JP Bold", NOTO_CJK, CJK_INDEX["ja"]),
        FontFace("Noto Sans CJK KR Bold", NOTO_CJK, CJK_INDEX["ko"]),
    ]
    return [face for face in candidates if face.path.exists()]


@functools.cache
def _codepoints(face: FontFace) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    font = TTFont(str(face.path), fontNumber=face.index, lazy=True)
    try:
        return frozenset(font.getBestCmap() or {})
    finally:
        font.close()


def _drawn(text: str) -> list[str]:
    """The characters that need a glyph: not spaces, not invisible format characters (ZWJ, RLM)."""
    return [ch for ch in dict.fromkeys(text) if not ch.isspace() and unicodedata.category(ch) != "Cf"]


def _preferred(text: str) -> list[str]:
    """Face names to try first for the scripts in `text`."""
    scripts = set(scripts_in(text))
    if scripts & CJK:
        if scripts & {"Hiragana", "Katakana"}:
            return ["Noto Sans CJK JP Bold"]
        if "Hangul" in scripts:
            return ["Noto Sans CJK KR Bold"]
        return ["Noto Sans CJK SC Bold"]
    if "Arabic" in scripts:
        return ["Noto Sans Arabic Bold"]
    if "Hebrew" in scripts:
        return ["Noto Sans Hebrew Bold"]
    return []


def face_for(text: str, *, first: Path | None = None) -> FontFace | None:
    """The face that draws every character of `text`, or None when no single face can.

    `first` (a font file, e.g. a template's own font) is tried before the chain."""
    faces = _faces()
    order = [f for name in _preferred(text) for f in faces if f.name == name]
    if first is not None and first.exists():
        order.insert(0, FontFace(first.stem, first))
    needed = [ord(ch) for ch in _drawn(text)]
    for face in [*order, *faces]:
        points = _codepoints(face)
        if all(cp in points for cp in needed):
            return face
    return None


def missing_glyphs(text: str) -> list[str]:
    """Characters of `text` that no face in the chain can draw (each once, in order)."""
    faces = _faces()
    return [ch for ch in _drawn(text) if not any(ord(ch) in _codepoints(face) for face in faces)]


def default_face() -> FontFace:
    return _faces()[0]
