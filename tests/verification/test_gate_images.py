"""The gate reads images as a viewer shows them (orientation, transparency, depth, mode)."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from apps.verification.gate import verify_image
from tests.verification.images import FONT, png

TITLE = "HARBOUR LIGHTS"


def _title(mode: str, size: tuple[int, int] = (768, 512), *, ground: object, ink: object) -> Image.Image:
    img = Image.new(mode, size, ground)  # type: ignore[arg-type]
    ImageDraw.Draw(img).text((70, 220), TITLE, font=ImageFont.truetype(str(FONT), 64), fill=ink)  # type: ignore[arg-type]
    return img


def _verify(data: bytes, expected: str = TITLE):  # type: ignore[no-untyped-def]
    return verify_image(image=data, expected={"title": expected}, regions={}, size=(768, 512))


def test_gate_reads_an_exif_rotated_jpeg_upright():
    upright = _title("RGB", ground=(240, 236, 225), ink=(20, 30, 60))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the pixels are stored turned back
    buf = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buf, format="JPEG", quality=92, exif=exif)

    report = _verify(buf.getvalue())

    assert report.verdict == "pass", report.reasons
    assert report.size == (768, 512)


def test_gate_passes_black_text_on_a_transparent_png():
    img = _title("RGBA", ground=(0, 0, 0, 0), ink=(0, 0, 0, 255))

    report = _verify(png(img))

    assert report.verdict == "pass", report.reasons


def test_gate_passes_white_text_on_a_transparent_png():
    img = _title("RGBA", ground=(255, 255, 255, 0), ink=(255, 255, 255, 255))

    report = _verify(png(img))

    assert report.verdict == "pass", report.reasons


def test_gate_reads_a_16_bit_png_instead_of_calling_it_blank():
    grey = np.asarray(_title("L", ground=200, ink=20), dtype=np.uint16) * 257  # full 16-bit range
    data = png(Image.fromarray(grey))
    assert Image.open(io.BytesIO(data)).mode == "I;16"

    report = _verify(data)

    assert report.checks[0].name == "image"
    assert report.checks[0].status == "pass", report.checks[0].detail
    assert report.verdict == "pass", report.reasons


def test_gate_reads_a_palette_png_with_a_transparent_ground():
    img = Image.new("P", (768, 512), 0)
    img.putpalette([0, 0, 0, 0, 0, 0] + [0] * 762)  # index 0 (ground) and 1 (ink) are both black
    ImageDraw.Draw(img).text((70, 220), TITLE, font=ImageFont.truetype(str(FONT), 64), fill=1)
    buf = io.BytesIO()
    img.save(buf, format="PNG", transparency=0)

    assert _verify(buf.getvalue()).verdict == "pass"


def test_gate_reads_an_la_png_with_a_transparent_ground():
    img = _title("LA", ground=(0, 0), ink=(0, 255))

    assert _verify(png(img)).verdict == "pass"


def test_gate_reads_a_cmyk_jpeg():
    buf = io.BytesIO()
    _title("RGB", ground=(240, 236, 225), ink=(20, 30, 60)).convert("CMYK").save(buf, format="JPEG", quality=92)

    assert _verify(buf.getvalue()).verdict == "pass"


@pytest.mark.parametrize("expected", ["", "🎉", "★ ★ ★", "—"])
def test_gate_with_nothing_to_check_says_not_verified_never_pass(expected):
    report = _verify(png(_title("RGB", ground=(240, 236, 225), ink=(20, 30, 60))), expected=expected)

    assert report.verdict == "review"
    assert report.reasons == ["text: not verified: no expected text"]
