"""OCR behind one interface. Backends are created once per process (see `ocr_backend`).

Backends (name → class):
- ``rapidocr``: RapidOCR 3.10 with the PP-OCRv6 small models shipped in its wheel (offline).
  The default: on our evaluation set it reads correct titles exactly where Tesseract does not
  (numbers in the README of `apps/verification` and in `python manage.py verifier_eval`).
- ``tesseract``: Tesseract in-process through tesserocr (the API object is reused, ~7x faster
  than a subprocess per call); falls back to pytesseract when tesserocr is not installed.
- ``pytesseract``: Tesseract through the pytesseract subprocess (the product's old baseline).

Every backend reads a whole RGB image and returns words with boxes in that image's pixels and a
confidence in 0..1. Engines are single-threaded on purpose: one worker process per core is the
deployment (research/ocr.md: two OCR processes on two cores slow each 2–3x when they thread).
"""

import functools
import os
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from PIL import Image

from apps.verification.text import cjk_char

# OpenMP oversubscription makes Tesseract crawl (and hang) with several workers per box.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

TESSDATA_DIRS = ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata")


@dataclass(frozen=True)
class OcrWord:
    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels
    conf: float  # 0..1
    line: int = 0  # index of the text line the word belongs to, in reading order


class OcrBackend(Protocol):
    name: str

    def read(self, image: Image.Image) -> list[OcrWord]: ...


class RapidOcrBackend:
    """RapidOCR (PP-OCRv6 small det + rec, ONNX Runtime, one thread).

    The detector's resize is capped at `det_side` on the longer side: rapidocr's default
    (`limit_type: min`, 736) upscales small images and costs 4x the time (research/ocr.md).
    `text_score` is lowered from 0.5 so that a faint line inside a slot shows up as a
    low-confidence word (REVIEW) instead of silently vanishing.
    """

    name = "rapidocr"

    def __init__(self, det_side: int = 480, text_score: float = 0.3) -> None:
        from rapidocr import RapidOCR

        self._engine = RapidOCR(
            params={
                "Global.use_cls": False,
                "Global.text_score": text_score,
                "Global.log_level": "error",
                "Det.limit_type": "max",
                "Det.limit_side_len": det_side,
                # One line per recogniser call: batches pad every line to the widest one's
                # width, which one thread pays for. Measured on the test split: CPU p95 per
                # image 0.313 → 0.283 s, dev split 0.314 → 0.306 s, no verdict moved on the
                # realset or the dev split, one hallucination on the test split FAIL → REVIEW.
                "Rec.rec_batch_num": 1,
                "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
        self._lock = threading.Lock()

    def read(self, image: Image.Image) -> list[OcrWord]:
        return self._read(image, use_cls=False)

    def read_upright(self, image: Image.Image) -> list[OcrWord]:
        """Read again with the angle classifier on: each text line found upside down (text set
        vertically from bottom to top, a rotated photo) is turned before it is recognised. Off
        on the first read: it changed correct reads of cursive lettering in our real set."""
        return self._read(image, use_cls=True)

    def _read(self, image: Image.Image, *, use_cls: bool) -> list[OcrWord]:
        import numpy as np

        array = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))  # no copy of a decoded RGB image
        with self._lock:
            out: Any = self._engine(array, use_cls=use_cls, return_word_box=True)
        words: list[OcrWord] = []
        if not out.txts:
            return words
        for line_no, (line_text, line_score, line_box, line_words) in enumerate(
            zip(out.txts, out.scores, out.boxes, out.word_results or [()] * len(out.txts), strict=False)
        ):
            parts = [(t, s, b) for t, s, b in line_words if str(t).strip()] if line_words else []
            if not parts:
                parts = [(line_text, line_score, line_box)]
            line: list[OcrWord] = []
            for text, score, box in parts:
                xs = [int(p[0]) for p in box]
                ys = [int(p[1]) for p in box]
                line.append(
                    OcrWord(
                        text=str(text).strip(),
                        box=(min(xs), min(ys), max(xs), max(ys)),
                        conf=float(score),
                        line=line_no,
                    )
                )
            words.extend(regroup_characters(line, str(line_text)))
        return words


def regroup_characters(line: list[OcrWord], line_text: str, gap_ratio: float = 0.3) -> list[OcrWord]:
    """One line's words with per-character output regrouped into words.

    RapidOCR returns a line that contains Chinese or Japanese one character per word (and the
    line's text often without its spaces), so "特価 ￥1,280" came back as 特 価 ￥ 1 , 2 8 0 and
    the amount fell apart into single digits. When every word of the line is one character,
    runs of characters that are not ideographs or kana (`cjk_char`) are joined into one word
    (text concatenated, union box, lowest confidence); a run is cut where `line_text` has a
    space between two characters (used only when it holds the same characters in the same
    order) or where the gap between their boxes is wider than `gap_ratio` × the line's
    tallest box (boxes in image pixels; the recogniser's character boxes are a few pixels
    apart inside a word, two columns of ~9 px apart at a space). Ideographs and kana stay one
    word each, as the text comparison expects. Lines read word by word are returned as-is.
    """
    if len(line) < 2 or any(len(w.text) != 1 for w in line):
        return line
    spaced = _space_after(line, line_text)
    height = max(w.box[3] - w.box[1] for w in line)
    out: list[OcrWord] = []
    for i, word in enumerate(line):
        prev = out[-1] if out else None
        if (
            prev is not None
            and not cjk_char(word.text)
            and not cjk_char(prev.text[-1])
            and not spaced[i - 1]
            and word.box[0] - prev.box[2] <= gap_ratio * height
        ):
            out[-1] = OcrWord(
                text=prev.text + word.text,
                box=(
                    min(prev.box[0], word.box[0]),
                    min(prev.box[1], word.box[1]),
                    max(prev.box[2], word.box[2]),
                    max(prev.box[3], word.box[3]),
                ),
                conf=min(prev.conf, word.conf),
                line=prev.line,
            )
            continue
        out.append(word)
    return out


def _space_after(line: list[OcrWord], line_text: str) -> list[bool]:
    """For each one-character word, whether `line_text` has whitespace right after it; all
    False when the text does not hold the same characters in the same order."""
    if "".join(line_text.split()) != "".join(w.text for w in line):
        return [False] * len(line)
    out: list[bool] = []
    pos = 0
    for word in line:
        pos = line_text.index(word.text, pos) + 1
        out.append(pos < len(line_text) and line_text[pos].isspace())
    return out


def _tessdata() -> str:
    for path in TESSDATA_DIRS:
        if os.path.exists(os.path.join(path, "eng.traineddata")):
            return path
    return ""


class PyTesseractBackend:
    """Tesseract through pytesseract: one subprocess per call, the model reloaded each time."""

    name = "pytesseract"
    psm = 3

    def read(self, image: Image.Image) -> list[OcrWord]:
        import pytesseract

        data = pytesseract.image_to_data(
            image.convert("L"), config=f"--psm {self.psm}", output_type=pytesseract.Output.DICT, timeout=30
        )
        words = []
        for text, conf, x, y, w, h, block, par, line in zip(
            data["text"],
            data["conf"],
            data["left"],
            data["top"],
            data["width"],
            data["height"],
            data["block_num"],
            data["par_num"],
            data["line_num"],
            strict=True,
        ):
            if text.strip() and float(conf) >= 0:
                words.append(
                    OcrWord(
                        text=text.strip(),
                        box=(x, y, x + w, y + h),
                        conf=float(conf) / 100,
                        line=block * 10000 + par * 100 + line,
                    )
                )
        return words


class TesseractBackend:
    """Tesseract in-process (tesserocr, the API reused across images); pytesseract without it.

    Grayscale input and page segmentation 3 read best on whole thumbnails (research/ocr.md).
    """

    name = "tesseract"

    def __init__(self) -> None:
        try:
            import tesserocr
        except ImportError:  # the subprocess path still works, only slower
            self._api = None
            self._fallback = PyTesseractBackend()
            return
        self._tesserocr = tesserocr
        self._api = tesserocr.PyTessBaseAPI(path=_tessdata(), lang="eng", psm=tesserocr.PSM.AUTO)
        self._lock = threading.Lock()

    def read(self, image: Image.Image) -> list[OcrWord]:
        if self._api is None:
            return self._fallback.read(image)
        tesserocr = self._tesserocr
        level = tesserocr.RIL.WORD
        words: list[OcrWord] = []
        with self._lock:
            self._api.SetImage(image.convert("L"))
            self._api.Recognize()
            iterator = self._api.GetIterator()
            line_no = 0
            if iterator is None:
                return words
            while True:
                if iterator.IsAtBeginningOf(tesserocr.RIL.TEXTLINE):
                    line_no += 1
                try:
                    text = iterator.GetUTF8Text(level)
                except RuntimeError:  # an empty element ("No text returned")
                    text = ""
                bbox = iterator.BoundingBox(level)
                if text and text.strip() and bbox:
                    words.append(
                        OcrWord(text=text.strip(), box=tuple(bbox), conf=iterator.Confidence(level) / 100, line=line_no)
                    )
                if not iterator.Next(level):
                    break
        return words


_BACKENDS: dict[str, type] = {
    "rapidocr": RapidOcrBackend,
    "tesseract": TesseractBackend,
    "pytesseract": PyTesseractBackend,
}


def register(name: str, factory: type) -> None:
    _BACKENDS[name] = factory


def backend_names() -> list[str]:
    return sorted(_BACKENDS)


def ocr_backend(name: str | None = None) -> OcrBackend:
    """The process-wide OCR backend (models load once per worker process): the same object
    for ``ocr_backend()``, ``ocr_backend(None)`` and the default's name. Raises ValueError
    for an unknown name."""
    name = name or settings.RENDERHUB_OCR_BACKEND
    if name not in _BACKENDS:
        raise ValueError(f"Unknown OCR backend {name!r}; choose one of {sorted(_BACKENDS)}.")
    return _loaded_backend(name)


@functools.cache
def _loaded_backend(name: str) -> OcrBackend:
    # Cached by resolved name: caching `ocr_backend` itself keyed () and (None,) apart, so the
    # worker's warm-up (`ocr_backend()`) loaded a second RapidOCR beside the gate's
    # (`ocr_backend(None)`), and the first image still paid the model load.
    return _BACKENDS[name]()


def limit_ocr_threads() -> None:
    """One compute thread per process in every library the gate calls, so that N worker
    processes on N cores do not oversubscribe them: ONNX Runtime is set to one intra-op and
    one inter-op thread in `RapidOcrBackend`, Tesseract's OpenMP by `OMP_THREAD_LIMIT=1`
    (set at import, above), and OpenCV (RapidOCR's resizing and crops) here; its default is
    a thread per core. Measured on 26 real images, the threads other than the main one used
    under 1 % of the process's CPU (README of `apps/verification`)."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    try:
        import cv2
    except ImportError:  # pragma: no cover - opencv comes with rapidocr
        return
    cv2.setNumThreads(1)


def ocr_warm(name: str | None = None) -> OcrBackend:
    """Limit threads and load every model the gate may use in this process, then run each once
    (ONNX Runtime allocates its buffers on the first run): the backend's detector and
    recogniser, RapidOCR's angle classifier (the upright re-read) and Tesseract's one-line
    reader (the second opinion). Called when a verification worker process starts; returns
    the backend. Raises what the backends raise when their models are missing."""
    from PIL import ImageDraw, ImageFont

    from apps.verification.second_opinion import tesseract_read

    limit_ocr_threads()
    backend = ocr_backend(name)
    sample = Image.new("RGB", (320, 80), "white")
    ImageDraw.Draw(sample).text((12, 16), "Warm 42", fill="black", font=ImageFont.load_default(size=40))
    backend.read(sample)
    read_upright = getattr(backend, "read_upright", None)
    if read_upright is not None:
        read_upright(sample)
    tesseract_read(sample)
    return backend
