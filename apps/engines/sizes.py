"""Canvas ↔ vendor sizes: pick the nearest size an engine accepts, then fit the result.

A requested canvas (e.g. 768×512) maps to the allowed size with the nearest aspect ratio
(distance in log-ratio, so 2:1 and 1:2 are equally far from 1:1), ties broken by the closest
pixel area. The returned image is then fitted to the canvas: scaled to cover it and
centre-cropped, so the job always gets exactly the size it asked for.
"""

import io
import math
from dataclasses import dataclass

from PIL import Image, ImageOps

from apps.core.images import displayed_size, load_image


@dataclass(frozen=True)
class SizeOption:
    """One size a vendor accepts: what goes on the wire (`value`) and its pixel size."""

    value: str
    width: int
    height: int


def ratio_option(ratio: str, width: int, height: int, *, sep: str = ":") -> SizeOption:
    return SizeOption(value=ratio.replace(":", sep), width=width, height=height)


def sized(*pairs: tuple[int, int]) -> list[SizeOption]:
    return [SizeOption(value=f"{w}x{h}", width=w, height=h) for w, h in pairs]


def nearest(options: list[SizeOption], *, width: int, height: int) -> SizeOption:
    want = math.log(width / height)
    area = width * height
    return min(
        options,
        key=lambda o: (round(abs(math.log(o.width / o.height) - want), 6), abs(o.width * o.height - area)),
    )


def free_size(*, width: int, height: int, multiple: int, max_side: int) -> SizeOption:
    """For engines that take any size: round each side to the vendor's multiple, within max_side."""
    scale = min(1.0, max_side / max(width, height))
    w = max(multiple, round(width * scale / multiple) * multiple)
    h = max(multiple, round(height * scale / multiple) * multiple)
    return SizeOption(value=f"{w}x{h}", width=w, height=h)


def fit_to_canvas(*, image: bytes, mime_type: str, width: int, height: int) -> tuple[bytes, str, bool]:
    """The image at exactly width × height: (bytes, mime type, whether it was changed).

    The size is the one a viewer shows (EXIF orientation applied, apps.core.images). Unchanged
    bytes are returned as they came when the size already matches (re-encoding a PNG costs
    ~250 ms, research/performance.md F4); otherwise cover-scale and centre-crop, saved as PNG
    at compression level 1, transparency kept.
    """
    if displayed_size(image) == (width, height):
        return image, mime_type, False
    # Oriented, 8-bit, first frame; transparency is kept (the image is delivered, not read).
    img = load_image(image, alpha="keep")
    fitted = ImageOps.fit(img, (width, height), method=Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    fitted.save(buf, format="PNG", compress_level=1)
    return buf.getvalue(), "image/png", True
