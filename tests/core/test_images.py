"""The one image loader (apps.core.images): every way an image can be stored, read as shown."""

import io

import numpy as np
import pytest
from PIL import Image

from apps.core.images import ImageLoadError, displayed_size, load_image, open_image, to_rgba


def _save(img: Image.Image, fmt: str = "PNG", **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _sideways_jpeg() -> bytes:
    """A 60×40 image (red left half, blue right half) stored turned by 90° with Orientation 6."""
    upright = Image.new("RGB", (60, 40), (220, 20, 20))
    upright.paste((20, 20, 220), (30, 0, 60, 40))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # Orientation 6 turns it back clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    return _save(stored, "JPEG", exif=exif, quality=95)


def test_load_image_applies_exif_orientation():
    data = _sideways_jpeg()

    img = load_image(data)

    assert img.size == (60, 40)
    assert displayed_size(data) == (60, 40)
    left, right = img.getpixel((5, 20)), img.getpixel((55, 20))
    assert left[0] > 180 and left[2] < 80  # red stays on the left, as a viewer shows it
    assert right[2] > 180 and right[0] < 80


def test_load_image_flattens_black_on_transparent_onto_white():
    img = Image.new("RGBA", (40, 40), (0, 0, 0, 0))  # transparent pixels are black underneath
    img.paste((0, 0, 0, 255), (10, 10, 30, 30))

    flat = load_image(_save(img))

    assert flat.mode == "RGB"
    assert flat.getpixel((2, 2)) == (255, 255, 255)
    assert flat.getpixel((20, 20)) == (0, 0, 0)


def test_load_image_flattens_white_on_transparent_onto_black():
    img = Image.new("RGBA", (40, 40), (255, 255, 255, 0))
    img.paste((255, 255, 255, 255), (10, 10, 30, 30))

    flat = load_image(_save(img))

    assert flat.getpixel((2, 2)) == (0, 0, 0)
    assert flat.getpixel((20, 20)) == (255, 255, 255)


def test_load_image_keeps_alpha_when_asked():
    img = Image.new("RGBA", (8, 8), (10, 20, 30, 0))

    kept = load_image(_save(img), alpha="keep")

    assert kept.mode == "RGBA"
    assert kept.getpixel((0, 0))[3] == 0


def test_load_image_scales_16_bit_grey_instead_of_clipping_it():
    values = np.full((20, 20), 20000, dtype=np.uint16)
    values[5:15, 5:15] = 60000
    data = _save(Image.fromarray(values))
    assert Image.open(io.BytesIO(data)).mode == "I;16"

    img = load_image(data)

    assert img.mode == "RGB"
    assert img.getpixel((0, 0)) == (78, 78, 78)  # 20000 / 257, not 255
    assert img.getpixel((10, 10)) == (233, 233, 233)


def test_to_rgba_scales_32_bit_grey_holding_16_bit_values():
    values = np.full((10, 10), 65535, dtype=np.int32)
    values[0:5] = 0
    grey = Image.fromarray(values)
    assert grey.mode == "I"

    img = to_rgba(grey)

    assert img.getpixel((0, 0)) == (0, 0, 0)
    assert img.getpixel((0, 9)) == (255, 255, 255)


def test_load_image_palette_with_transparent_index():
    img = Image.new("P", (10, 10), 0)
    img.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    img.paste(1, (0, 0, 5, 10))
    data = _save(img, transparency=0)

    flat = load_image(data)

    assert flat.getpixel((2, 5)) == (200, 30, 30)
    assert flat.getpixel((8, 5)) in {(0, 0, 0), (255, 255, 255)}  # ground, by contrast
    assert load_image(data, alpha="keep").getpixel((8, 5))[3] == 0


def test_load_image_la():
    img = Image.new("LA", (10, 10), (0, 0))
    img.paste((30, 255), (0, 0, 5, 10))

    flat = load_image(_save(img))

    assert flat.getpixel((2, 2)) == (30, 30, 30)
    assert flat.getpixel((8, 2)) == (255, 255, 255)


def test_load_image_cmyk_jpeg():
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK

    img = load_image(_save(cmyk, "JPEG", quality=95))

    r, g, b = img.getpixel((8, 8))
    assert r > 200 and g < 60 and b < 60


def test_load_image_takes_the_first_frame_of_an_animation():
    frames = [Image.new("RGB", (10, 10), (200, 0, 0)), Image.new("RGB", (10, 10), (0, 0, 200))]
    data = _save(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 2

    img = open_image(data)

    assert img.info["rh_frames"] == 2
    assert load_image(data).getpixel((5, 5)) == (200, 0, 0)


def test_load_image_refuses_an_image_over_the_pixel_cap(settings):
    settings.RENDERHUB_MAX_PIXELS = 100 * 100

    with pytest.raises(ImageLoadError, match="pixel cap"):
        load_image(_save(Image.new("RGB", (101, 100))))


def test_load_image_refuses_a_decompression_bomb(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50 * 50)

    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_image(_save(Image.new("RGB", (80, 80))))


@pytest.mark.parametrize("data", [b"", b"GIF89a....", b"\x89PNG\r\n\x1a\nbroken"])
def test_load_image_refuses_what_is_not_an_image(data):
    with pytest.raises(ImageLoadError):
        load_image(data)


def test_load_image_refuses_formats_not_allowed():
    gif = _save(Image.new("RGB", (8, 8)), "GIF")

    with pytest.raises(ImageLoadError):
        load_image(gif)
