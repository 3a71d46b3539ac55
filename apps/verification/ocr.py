"""OCR behind one interface. Backends are created once per process (see `ocr_backend`)."""

import functools
import os
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from PIL import Image


@dataclass(frozen=True)
class OcrWord:
    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels
    conf: float  # 0..1


class OcrBackend(Protocol):
    name: str

    def read(self, image: Image.Image) -> list[OcrWord]: ...


class TesseractBackend:
    """Tesseract through pytesseract (one subprocess per call)."""

    name = "tesseract"

    def __init__(self) -> None:
        # OpenMP oversubscription makes Tesseract crawl with several workers per box.
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")

    def read(self, image: Image.Image) -> list[OcrWord]:
        import pytesseract

        data = pytesseract.image_to_data(
            image.convert("L"), config="--psm 6", output_type=pytesseract.Output.DICT, timeout=30
        )
        words = []
        for text, conf, x, y, w, h in zip(
            data["text"],
            data["conf"],
            data["left"],
            data["top"],
            data["width"],
            data["height"],
            strict=True,
        ):
            if text.strip() and float(conf) >= 0:
                words.append(OcrWord(text=text.strip(), box=(x, y, x + w, y + h), conf=float(conf) / 100))
        return words


_BACKENDS = {"tesseract": TesseractBackend}


def register(name: str, factory: type) -> None:
    _BACKENDS[name] = factory


@functools.cache
def ocr_backend(name: str | None = None) -> OcrBackend:
    """The process-wide OCR backend (models load once per worker process)."""
    name = name or settings.RENDERHUB_OCR_BACKEND
    if name not in _BACKENDS:
        raise ValueError(f"Unknown OCR backend {name!r}; choose one of {sorted(_BACKENDS)}.")
    return _BACKENDS[name]()
