"""Real Pillow images with known text, for the gate's tests."""

import io
from pathlib import Path

from django.conf import settings
from PIL import Image, ImageDraw, ImageFont

FONT = Path(settings.BASE_DIR) / "static" / "fonts" / "DejaVuSans-Bold.ttf"
TITLE_REGION = [0.06, 0.6, 0.94, 0.92]


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def card(
    texts: list[tuple[str, tuple[int, int]]],
    *,
    size: tuple[int, int] = (768, 512),
    background: tuple[int, int, int] = (27, 58, 107),
    fill: tuple[int, int, int] = (250, 246, 235),
    font_size: int = 48,
) -> bytes:
    """A flat background with each text drawn at its top-left position."""
    img = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), font_size)
    for text, xy in texts:
        draw.text(xy, text, font=font, fill=fill)
    # A little texture so the image is not "blank" anywhere we do not want it to be.
    draw.ellipse((560, 40, 720, 200), fill=(242, 193, 78))
    return png(img)


def title_card(title: str, **kwargs: object) -> bytes:
    return card([(title, (70, 350))], **kwargs)  # type: ignore[arg-type]
