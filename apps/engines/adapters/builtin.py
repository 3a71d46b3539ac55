"""The built-in engine: an offline SIMULATION of an image model, not a model.

It exists so RenderHub runs and is tested with no vendor reachable. Given the same prompt,
seed and size it returns byte-identical PNGs. It paints a plausible composition (gradient,
palette shapes), writes the text the prompt quotes ('SALE', "Mama's Kitchen") into the
requested text region (or a sensible band) in the first typeface that has every glyph of it
(apps.core.fonts: DejaVu, then Noto for Greek, Cyrillic, Arabic, Hebrew and CJK), injects
typographic hallucinations the way real models do (substituted look-alike, dropped, doubled
or transposed letters, an extra or a missing word) at a configurable rate that falls with
the guidance level, and waits a simulated latency drawn from a log-normal distribution with an
optional long tail.

Engine.params keys (defaults in DEFAULTS): latency_p50_ms, latency_sigma, tail_prob,
tail_factor, typo_rate, detail (0 = flat preview look; 1 = a finer second pass of shapes and
texture, so a high-fidelity preset's final differs from its preview while keeping the
composition that the seed fixes), and `adapters` ({reference: typo factor}, added to
SIMULATED_ADAPTERS).

Adapters (SIMULATED, no weights are loaded): a request naming a known adapter reference at
strength s multiplies the typo rate by factor ** s, so a trained adapter's effect on text can
be shown offline; an unknown reference changes nothing and says so in `sent["simulation"]`. The
composition does not depend on the adapter, so one seed with and without it differs only in
whether a typo is injected.
"""

import functools
import hashlib
import io
import math
import random
import time
from typing import Any

from django.conf import settings
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from apps.core.fonts import FontFace, default_face, face_for
from apps.engines.models import Engine
from apps.engines.prompts import quoted_texts
from apps.engines.types import Billing, EngineRequest, EngineResult

DEFAULTS: dict[str, float] = {
    "latency_p50_ms": 300.0,
    "latency_sigma": 0.25,
    "tail_prob": 0.0,
    "tail_factor": 3.0,
    "typo_rate": 0.15,
    "detail": 0.0,
}
LOOKALIKES = {
    "a": "o",
    "o": "a",
    "e": "c",
    "c": "e",
    "i": "l",
    "l": "i",
    "n": "m",
    "m": "n",
    "u": "v",
    "v": "u",
    "s": "z",
    "t": "f",
    "h": "b",
    "r": "n",
    "g": "q",
    "E": "F",
    "O": "Q",
    "S": "5",
    "A": "R",
    "I": "L",
    "N": "M",
    "C": "G",
    "B": "R",
    "T": "Y",
}
# Adapter references the simulation knows, with the factor their typo rate is multiplied by at
# strength 1. A demonstration value, not a measurement of any real LoRA.
SIMULATED_ADAPTERS: dict[str, float] = {"renderhub-sim/typography-lora": 0.2}
FILLER_WORDS = ["THE", "and", "of", "NEW", "the", "SALE", "Best"]


def hallucinate(text: str, rng: random.Random) -> tuple[str, str]:
    """Return `text` with one realistic typographic error, and its kind."""
    words = text.split()
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    kinds = ["substitute", "drop", "double", "transpose"]
    if len(words) > 1:
        kinds += ["missing_word", "extra_word"]
    else:
        kinds += ["extra_word"]
    kind = rng.choice(kinds)
    if not letters:
        return text + " " + rng.choice(FILLER_WORDS), "extra_word"
    i = rng.choice(letters)
    if kind == "substitute":
        ch = text[i]
        new = LOOKALIKES.get(ch) or LOOKALIKES.get(ch.lower(), "x")
        new = new.upper() if ch.isupper() else new
        return text[:i] + new + text[i + 1 :], kind
    if kind == "drop" and len(letters) > 1:
        return text[:i] + text[i + 1 :], kind
    if kind == "double":
        return text[:i] + text[i] + text[i:], kind
    if kind == "transpose" and i + 1 < len(text) and text[i + 1].isalpha() and text[i] != text[i + 1]:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :], kind
    if kind == "missing_word" and len(words) > 1:
        del words[rng.randrange(len(words))]
        return " ".join(words), kind
    filler = rng.choice(FILLER_WORDS)
    filler = filler.upper() if text.isupper() else filler
    words.insert(rng.randrange(len(words) + 1), filler)
    return " ".join(words), "extra_word"


def _seeded_rng(request: EngineRequest) -> random.Random:
    key = f"{request.prompt}\x00{request.seed}\x00{request.width}x{request.height}\x00{request.guidance}"
    return random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))


def _hex_rgb(value: str) -> tuple[int, int, int]:
    value = value.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def _palette(request: EngineRequest, rng: random.Random) -> list[tuple[int, int, int]]:
    given = [c for c in request.extra.get("palette", []) if isinstance(c, str) and len(c.lstrip("#")) == 6]
    if len(given) >= 2:
        return [_hex_rgb(c) for c in given]
    base = rng.random()
    out = []
    for k in range(4):
        h = (base + k * 0.13) % 1.0
        r, g, b = (int(255 * (0.5 + 0.5 * math.sin(2 * math.pi * (h + o)))) for o in (0, 1 / 3, 2 / 3))
        out.append((r, g, b))
    return out


# Backgrounds kept per process, newest first: a job's final repeats its preview's request
# (same prompt, seed, size, guidance), so it repaints the same background. At most this many
# images (768×512 RGB: 1.2 MB each).
BACKGROUNDS_CACHED = 16


def _background(w: int, h: int, palette: list[tuple[int, int, int]], rng: random.Random) -> Image.Image:
    """The composition under the text: a vertical gradient between the first two palette
    colours and 3–7 soft shapes. Cached by `rng`'s state, size and palette (a bounded LRU):
    the caller gets its own copy and `rng` advances exactly as painting advances it."""
    image, state = _painted_background(rng.getstate(), w, h, tuple(palette))
    rng.setstate(state)
    return image.copy()


@functools.lru_cache(maxsize=BACKGROUNDS_CACHED)
def _painted_background(
    state: tuple[Any, ...], w: int, h: int, palette: tuple[tuple[int, int, int], ...]
) -> tuple[Image.Image, tuple[Any, ...]]:
    rng = random.Random()
    rng.setstate(state)
    import numpy as np

    # Row y: int(top·(1−t) + bottom·t) per channel, t = y/(h−1), in float64 as it was painted
    # pixel by pixel before (the same bytes; tests/engines/test_builtin_speed.py).
    t = (np.arange(h, dtype=np.float64) / max(h - 1, 1))[:, None]
    column = np.array(palette[0], dtype=np.float64) * (1 - t) + np.array(palette[1], dtype=np.float64) * t
    img = Image.fromarray(column.astype(np.uint8).reshape(h, 1, 3), "RGB").resize((w, h))
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(rng.randint(3, 7)):
        color = rng.choice(palette)
        cx, cy = rng.randrange(w), rng.randrange(h)
        r = rng.randint(min(w, h) // 10, min(w, h) // 3)
        alpha = rng.randint(60, 150)
        if rng.random() < 0.6:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*color, alpha))
        else:
            draw.rectangle((cx - r, cy - r // 2, cx + r, cy + r // 2), fill=(*color, alpha))
    layer = layer.filter(ImageFilter.GaussianBlur(radius=max(2, min(w, h) // 60)))
    return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB"), rng.getstate()


def _add_detail(
    img: Image.Image, palette: list[tuple[int, int, int]], rng: random.Random, amount: float
) -> Image.Image:
    """A finer pass: small soft highlights and thin strokes over the base composition."""
    w, h = img.size
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(int(24 * amount)):
        color = rng.choice(palette)
        cx, cy, r = rng.randrange(w), rng.randrange(h), rng.randint(4, max(6, min(w, h) // 14))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*color, rng.randint(40, 110)))
    for _ in range(int(10 * amount)):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        draw.line(
            (x0, y0, x0 + rng.randint(-w // 3, w // 3), y0 + rng.randint(-h // 6, h // 6)),
            fill=(255, 255, 255, rng.randint(30, 80)),
            width=rng.randint(1, 3),
        )
    layer = layer.filter(ImageFilter.GaussianBlur(radius=1.2))
    return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")


def _fit(text: str, box: tuple[int, int, int, int]) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """Largest font size at which `text`, wrapped to at most two lines, fits in `box`."""
    face, size, lines = _fit_plan(text, box[2] - box[0], box[3] - box[1])
    return face.truetype(size), list(lines)


@functools.lru_cache(maxsize=1024)
def _fit_plan(text: str, bw: int, bh: int) -> tuple[FontFace, int, tuple[str, ...]]:
    """Face, size and lines for `text` in a bw × bh box: sizes from bh down by 2 px, one line
    then two, the first that fits 94 % of the box. Sizes whose lines are too tall for the box
    whatever their width are passed over without loading the font; the plan is kept (a job's
    final sets the same text in the same box as its preview)."""
    face = face_for(text) or default_face()  # submission refuses text no face can draw
    words = text.split()
    candidates = [[text]]
    if len(words) > 1:
        cut = max(1, len(words) // 2)
        candidates.append([" ".join(words[:cut]), " ".join(words[cut:])])
    # Widths as drawn on the RGB canvas (its font mode), on a canvas of our own.
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    for size in range(max(12, bh), 11, -2):
        tall_enough = [lines for lines in candidates if len(lines) * size * 1.2 <= bh * 0.94]
        if not tall_enough:
            continue
        font = face.truetype(size)
        for lines in tall_enough:
            if max(measure.textlength(line, font=font) for line in lines) <= bw * 0.94:
                return face, size, tuple(lines)
    return face, 12, tuple(candidates[-1])


def _contrasting(background: tuple[int, int, int]) -> tuple[int, int, int]:
    lum = 0.2126 * background[0] + 0.7152 * background[1] + 0.0722 * background[2]
    return (20, 20, 24) if lum > 140 else (250, 250, 246)


def _draw_text(img: Image.Image, text: str, region: tuple[float, float, float, float]) -> None:
    w, h = img.size
    box = (int(region[0] * w), int(region[1] * h), int(region[2] * w), int(region[3] * h))
    draw = ImageDraw.Draw(img)
    font, lines = _fit(text, box)
    size = font.size
    sample = img.crop(box).resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    fill = _contrasting(sample)  # type: ignore[arg-type]
    shadow = (0, 0, 0) if fill[0] > 128 else (255, 255, 255)
    total_h = len(lines) * size * 1.2
    y = box[1] + (box[3] - box[1] - total_h) / 2
    for line in lines:
        x = box[0] + (box[2] - box[0] - draw.textlength(line, font=font)) / 2
        draw.text((x + max(1, size // 30), y + max(1, size // 30)), line, font=font, fill=shadow)
        draw.text((x, y), line, font=font, fill=fill)
        y += size * 1.2


def default_regions(count: int) -> list[tuple[float, float, float, float]]:
    """A sensible place for text when the request names no region: bands from the top."""
    if count <= 1:
        return [(0.08, 0.32, 0.92, 0.68)]
    step = 0.8 / count
    return [(0.08, 0.1 + k * step, 0.92, 0.1 + (k + 1) * step - 0.02) for k in range(count)]


class BuiltinAdapter:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.params = {**DEFAULTS, **{k: float(v) for k, v in (engine.params or {}).items() if k in DEFAULTS}}
        self.params["latency_p50_ms"] = max(self.params["latency_p50_ms"], 0.0)
        extra = (engine.params or {}).get("adapters")
        self.adapters = {**SIMULATED_ADAPTERS, **(extra if isinstance(extra, dict) else {})}

    def adapter_factor(self, request: EngineRequest) -> tuple[float, str]:
        """The typo-rate multiplier for the request's adapter (1.0 = none or unknown), and a note."""
        if not request.adapter_ref:
            return 1.0, ""
        factor = self.adapters.get(request.adapter_ref)
        if factor is None:
            return 1.0, f"simulated adapter: unknown reference {request.adapter_ref!r}, no effect"
        strength = min(max(request.adapter_strength if request.adapter_strength is not None else 1.0, 0.0), 2.0)
        return float(factor) ** strength, f"simulated adapter {request.adapter_ref!r} at strength {strength:g}"

    def simulated_latency_ms(self) -> float:
        p = self.params
        rng = random.Random()
        latency = p["latency_p50_ms"] * math.exp(rng.gauss(0, p["latency_sigma"]))
        if rng.random() < p["tail_prob"]:
            latency *= p["tail_factor"]
        return latency

    def render(self, request: EngineRequest) -> tuple[bytes, dict[str, Any]]:
        """The deterministic part: same request, same bytes."""
        rng = _seeded_rng(request)
        palette = _palette(request, rng)
        img = _background(request.width, request.height, palette, rng)
        if self.params["detail"] > 0:
            img = _add_detail(img, palette, random.Random(rng.random()), self.params["detail"])
        texts = quoted_texts(request.prompt)
        regions_given = [tuple(r) for r in request.extra.get("text_regions", []) if len(r) == 4]
        regions = regions_given or default_regions(len(texts))
        factor, adapter_note = self.adapter_factor(request)
        typo_rate = self.params["typo_rate"] * (0.25 ** max(request.guidance, 0)) * factor
        drawn, injected = [], []
        for text, region in zip(texts, regions, strict=False):
            if rng.random() < typo_rate:
                text, kind = hallucinate(text, rng)
                injected.append(kind)
            _draw_text(img, text, region)  # type: ignore[arg-type]
            drawn.append(text)
        buf = io.BytesIO()
        # Level 1: encoding time matters more than bytes here (research/performance.md F4).
        img.save(buf, format="PNG", compress_level=1)
        simulation: dict[str, Any] = {"drawn_texts": drawn, "injected_typos": injected, "typo_rate": typo_rate}
        if adapter_note:
            simulation["adapter"] = adapter_note
        return buf.getvalue(), simulation

    def generate(self, request: EngineRequest) -> EngineResult:
        started = time.perf_counter()
        image, simulation = self.render(request)
        render_ms = (time.perf_counter() - started) * 1000
        wait_ms = self.simulated_latency_ms() * settings.RENDERHUB_BUILTIN_LATENCY_SCALE - render_ms
        if wait_ms > 0:
            time.sleep(wait_ms / 1000)
        return EngineResult(
            image=image,
            mime_type="image/png",
            seed_used=request.seed,
            width=request.width,
            height=request.height,
            timings_ms={"render": render_ms, "total": (time.perf_counter() - started) * 1000},
            sent={"size": f"{request.width}x{request.height}", "simulation": simulation},
            billing=Billing(
                model=self.engine.model_id or self.engine.slug,
                size=f"{request.width}x{request.height}",
                pixels=f"{request.width}x{request.height}",
            ),
        )
