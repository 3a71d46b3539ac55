"""The simulation's caches (fonts per size, fitted text, backgrounds) save work without
changing a byte: the images equal those painted without them."""

import random
import threading

import pytest
from PIL import Image, ImageDraw, ImageFilter

from apps.core import fonts
from apps.engines.adapters import builtin
from apps.engines.adapters.builtin import BuiltinAdapter
from apps.engines.models import Engine
from apps.engines.types import EngineRequest


@pytest.fixture
def cold_caches():  # type: ignore[no-untyped-def]
    builtin._painted_background.cache_clear()
    builtin._fit_plan.cache_clear()
    fonts._font.cache_clear()


def _reference_background(w: int, h: int, palette: list[tuple[int, int, int]], rng: random.Random) -> Image.Image:
    """The background as it was painted before the cache: the gradient pixel by pixel."""
    top, bottom = palette[0], palette[1]
    column = Image.new("RGB", (1, h))
    for y in range(h):
        t = y / max(h - 1, 1)
        column.putpixel((0, y), tuple(int(top[c] * (1 - t) + bottom[c] * t) for c in range(3)))
    img = column.resize((w, h))
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
    return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")


@pytest.mark.parametrize(("size", "seed"), [((768, 512), 1), ((512, 512), 2), ((97, 301), 3), ((40, 1), 4)])
def test_background_equals_the_pixel_by_pixel_painting_and_advances_rng_alike(cold_caches, size, seed):
    palette = [(255, 0, 17), (3, 250, 128), (90, 90, 200)]
    ours, theirs = random.Random(seed), random.Random(seed)

    first = builtin._background(*size, palette, ours)
    again = builtin._background(*size, palette, random.Random(seed))  # from the cache

    assert first.tobytes() == _reference_background(*size, palette, theirs).tobytes() == again.tobytes()
    assert ours.getstate() == theirs.getstate()


def test_background_copy_is_the_callers_to_draw_on(cold_caches):
    painted = builtin._background(64, 48, [(0, 0, 0), (255, 255, 255)], random.Random(9))
    painted.paste((255, 0, 0), (0, 0, 64, 48))

    assert builtin._background(64, 48, [(0, 0, 0), (255, 255, 255)], random.Random(9)).getpixel((0, 0)) != (255, 0, 0)


def test_final_after_its_preview_reuses_the_background_and_the_fitted_text(cold_caches):
    request = EngineRequest(prompt='a poster that reads "Harbour Lights"', seed=11, width=320, height=200)
    preview = BuiltinAdapter(Engine(slug="p", name="p", adapter="builtin", params={"typo_rate": 0}))
    final = BuiltinAdapter(Engine(slug="f", name="f", adapter="builtin", params={"typo_rate": 0, "detail": 1}))

    preview.render(request)
    final.render(request)

    assert builtin._painted_background.cache_info().hits == 1
    assert builtin._fit_plan.cache_info().hits == 1


def test_fit_loads_no_font_size_whose_lines_are_too_tall_for_the_box(cold_caches, monkeypatch):
    loaded: list[int] = []
    real = fonts.ImageFont.truetype
    monkeypatch.setattr(
        fonts.ImageFont, "truetype", lambda path, size, index=0: loaded.append(size) or real(path, size, index=index)
    )

    font, lines = builtin._fit("Harbour Lights", (0, 0, 700, 160))

    # One line of size s is s·1.2 high; 160 px · 0.94 holds 125 px at most.
    assert loaded and max(loaded) <= 125
    assert (font.size, lines) == (loaded[-1], ["Harbour Lights"])


def test_truetype_is_loaded_once_per_size_and_shared_by_threads(cold_caches):
    face = fonts.default_face()
    other: list[object] = []

    thread = threading.Thread(target=lambda: other.append(face.truetype(40)))
    thread.start()
    thread.join()

    assert face.truetype(40) is face.truetype(40) is other[0]
    assert face.truetype(40) is not face.truetype(42)
    assert fonts._font.cache_info().maxsize == fonts.FONTS_CACHED
