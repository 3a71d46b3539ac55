"""Engine responses are read as a viewer shows them (apps.core.images)."""

import io

from PIL import Image

from apps.engines import sizes, transport


def _sideways_jpeg(width: int, height: int) -> bytes:
    """A width × height picture stored turned (height × width) with EXIF Orientation 6."""
    upright = Image.new("RGB", (width, height), (220, 20, 20))
    upright.paste((20, 20, 220), (width // 2, 0, width, height))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buf, format="JPEG", quality=95, exif=exif)
    return buf.getvalue()


def test_check_image_reports_the_size_as_shown():
    assert transport.check_image(_sideways_jpeg(96, 64)) == ("image/jpeg", 96, 64)


def test_fit_to_canvas_keeps_an_exif_rotated_image_of_the_right_size():
    data = _sideways_jpeg(96, 64)

    assert sizes.fit_to_canvas(image=data, mime_type="image/jpeg", width=96, height=64) == (data, "image/jpeg", False)


def test_fit_to_canvas_turns_an_exif_rotated_image_upright_before_cropping():
    fitted, mime, changed = sizes.fit_to_canvas(
        image=_sideways_jpeg(96, 64), mime_type="image/jpeg", width=48, height=32
    )

    img = Image.open(io.BytesIO(fitted))
    assert (mime, changed, img.size) == ("image/png", True, (48, 32))
    left, right = img.convert("RGB").getpixel((4, 16)), img.convert("RGB").getpixel((44, 16))
    assert left[0] > 180 and right[2] > 180  # red on the left, blue on the right, as shown


def test_fit_to_canvas_keeps_transparency_of_a_palette_png():
    img = Image.new("P", (40, 40), 0)
    img.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    img.paste(1, (0, 0, 20, 40))
    buf = io.BytesIO()
    img.save(buf, format="PNG", transparency=0)

    fitted, _, _ = sizes.fit_to_canvas(image=buf.getvalue(), mime_type="image/png", width=20, height=20)

    out = Image.open(io.BytesIO(fitted))
    assert out.mode == "RGBA"
    assert out.getpixel((19, 10))[3] == 0
