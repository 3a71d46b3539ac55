"""A second opinion on one word: read its crop again, with another engine and at another scale.

Used only where the first read disagrees with the expected text on look-alike glyphs or with low
confidence (`text.compare_slot` lists those words), so it costs nothing on images that pass.

Readers (each returns the tokens it read in the crop, padded by a quarter of the word's height):
- ``tesseract``: Tesseract in-process (tesserocr, one line: PSM 7) on the grayscale crop with its
  contrast stretched, and on the inverted crop when that reads nothing (light text on dark);
- ``rapidocr``: the first engine again on the crop scaled so that the word is ~48 px high,
  which changes what the recogniser sees on stylised letters (research/ocr.md: the detector's
  scale moves results).
"""

import functools
import threading
from typing import Any

from PIL import Image, ImageOps

from apps.verification.ocr import OcrBackend, _tessdata
from apps.verification.text import read_tokens

_LOCK = threading.Lock()


@functools.cache
def _tesseract_line() -> Any:
    try:
        import tesserocr
    except ImportError:  # pragma: no cover - tesserocr is in requirements/base.txt
        return None
    return tesserocr.PyTessBaseAPI(path=_tessdata(), lang="eng", psm=tesserocr.PSM.SINGLE_LINE)


def _crop(img: Image.Image, box: list[int]) -> Image.Image:
    x0, y0, x1, y1 = box
    pad = max(4, (y1 - y0) // 4)
    return img.crop((max(0, x0 - pad), max(0, y0 - pad), min(img.width, x1 + pad), min(img.height, y1 + pad)))


def _norms(text: str) -> list[str]:
    class _Word:
        def __init__(self, value: str) -> None:
            self.text, self.conf, self.line, self.box = value, 1.0, 0, (0, 0, 0, 0)

    return [t.norm for t in read_tokens([_Word(part) for part in text.split()])]


def tesseract_read(crop: Image.Image) -> list[str]:
    api = _tesseract_line()
    if api is None:
        return []
    grey = ImageOps.autocontrast(crop.convert("L"))
    if grey.height < 40:  # Tesseract reads capitals ~30 px high best
        scale = 40 / max(1, grey.height)
        grey = grey.resize((max(1, int(grey.width * scale)), 40), Image.Resampling.LANCZOS)
    out: list[str] = []
    with _LOCK:
        for candidate in (grey, ImageOps.invert(grey)):
            api.SetImage(candidate)
            text = api.GetUTF8Text().strip()
            if text and api.MeanTextConf() >= 50:
                out = _norms(text)
                break
    return out


def rapid_read(crop: Image.Image, engine: OcrBackend) -> list[str]:
    target = 48
    scale = target / max(1, crop.height)
    if 0.8 < scale < 1.25:  # about the same scale as the first read: try a clearly different one
        scale = 2.0
    resized = crop.resize((max(1, int(crop.width * scale)), max(1, int(crop.height * scale))), Image.Resampling.LANCZOS)
    return [t.norm for t in read_tokens(engine.read(resized))]


def second_reads(img: Image.Image, box: list[int] | None, *, engine: OcrBackend) -> list[tuple[str, list[str]]]:
    """The second readers' tokens for the word in `box` (image pixels): [(engine name, tokens)]."""
    if not box:
        return []
    crop = _crop(img, box)
    if crop.width < 4 or crop.height < 4:
        return []
    reads = [("tesseract", tesseract_read(crop))]
    if engine.name == "rapidocr":
        reads.append(("rapidocr", rapid_read(crop, engine)))
    return reads
