"""The legibility check's contrast, computed from 8-bit lookup tables and counts, gives exactly
the figures of the float64 computation it replaced (so no verdict moves)."""

import io
import random

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from apps.verification.gate import contrast_ratio, relative_luminance, text_contrast
from tests.verification.images import title_card


def _reference_contrast(img: Image.Image, box: tuple[int, int, int, int]) -> tuple[float, list[int], list[int]]:
    """The float64 version (every pixel raised to the power 2.4, medians by sorting)."""
    crop = np.asarray(img.crop(box).convert("RGB"), dtype=np.float64).reshape(-1, 3)
    if len(crop) < 4:
        return 21.0, [0, 0, 0], [255, 255, 255]
    lum = relative_luminance(crop)
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
    dark, light = crop[lum < cut], crop[lum >= cut]
    if len(dark) == 0 or len(light) == 0:
        return 1.0, [int(v) for v in crop.mean(0)], [int(v) for v in crop.mean(0)]
    text, ground = (dark, light) if len(dark) < len(light) else (light, dark)
    t, g = np.median(text, axis=0), np.median(ground, axis=0)
    return round(contrast_ratio(t, g), 2), [int(v) for v in t], [int(v) for v in g]


def _busy_image(seed: int) -> Image.Image:
    """Noise, a gradient and blurred text: many distinct colours, odd and even box sizes."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=(160, 240, 3), dtype=np.uint8)
    img = Image.fromarray(noise, "RGB").filter(ImageFilter.GaussianBlur(2))
    draw = ImageDraw.Draw(img)
    draw.rectangle((20, 60, 220, 110), fill=(240, 240, 230))
    draw.text((30, 70), "SALE 9.99", fill=(20, 20, 40))
    return img


@pytest.mark.parametrize("seed", range(4))
def test_text_contrast_equals_the_float64_computation_on_random_boxes(seed):
    img = _busy_image(seed)
    rng = random.Random(seed)
    boxes = [(0, 0, 1, 1), (0, 0, 2, 2), (0, 0, img.width, img.height)]
    for _ in range(60):
        x0, y0 = rng.randrange(img.width - 1), rng.randrange(img.height - 1)
        boxes.append((x0, y0, rng.randrange(x0 + 1, img.width + 1), rng.randrange(y0 + 1, img.height + 1)))

    got = [text_contrast(img, box) for box in boxes]

    assert got == [_reference_contrast(img, box) for box in boxes]


def test_text_contrast_equals_the_float64_computation_on_flat_and_title_images():
    flat = Image.new("RGB", (50, 40), (90, 120, 30))
    title = Image.open(io.BytesIO(title_card("Harbour Lights"))).convert("RGB")
    cases = [(flat, (0, 0, 50, 40)), (title, (60, 340, 700, 420)), (title, (0, 0, 768, 512))]

    got = [text_contrast(img, box) for img, box in cases]

    assert got == [_reference_contrast(img, box) for img, box in cases]
    assert got[0] == (1.0, [90, 120, 30], [90, 120, 30])
