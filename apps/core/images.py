"""The one way RenderHub turns image bytes (engine output, uploads, stored renders) into pixels.

Engine output is untrusted input (research/reliability.md §4), and what a person sees in a
viewer is what must be read, composited and fitted. So every reader goes through here:

- formats: only the decoders named (PNG, JPEG, WebP by default); anything else is refused;
- size: the pixel cap (``RENDERHUB_MAX_PIXELS``) is checked from the header, before any pixel
  is decoded; Pillow's own decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``) stays in
  force and its warning is an error here;
- animation: an animated PNG or WebP gives its **first frame** (the frame a still viewer and
  a thumbnail show); `open_image` records the frame count in ``info["rh_frames"]``;
- orientation: the EXIF Orientation tag is applied (``ImageOps.exif_transpose``), so a photo
  stored sideways with Orientation 6 comes out upright, as every viewer shows it;
- depth and mode: 16-bit grey (``I;16*``, ``I``) is scaled 0..65535 → 0..255 (Pillow's plain
  ``convert`` clips it, so a 16-bit image turns white); palette and grey images with a
  transparent colour, ``LA``/``PA``, ``CMYK`` (through the embedded ICC profile when there is
  one) and the other modes become RGB or RGBA;
- transparency: `load_image` flattens it onto the ground that contrasts most with what is
  visible (black text on a transparent background comes out black on white, white text
  black-behind), or keeps it (``alpha="keep"``) for callers that deliver the image.

Errors: `ImageLoadError` (a ValueError) with a sentence a person can read, for every way the
bytes can be wrong: unknown format, truncated data, over the cap, a decompression bomb.
"""

import io
import warnings
from collections.abc import Sequence
from typing import Literal

from django.conf import settings
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

DEFAULT_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP")
# EXIF orientations that swap width and height (5–8: transposed or rotated by 90°/270°).
_SWAPS_SIDES = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112


class ImageLoadError(ValueError):
    """The bytes are not an image RenderHub will read; the message says why."""


def _cap(max_pixels: int | None) -> int:
    return int(max_pixels or settings.RENDERHUB_MAX_PIXELS)


def _open(data: bytes, formats: Sequence[str], max_pixels: int | None) -> Image.Image:
    if not data:
        raise ImageLoadError("The image is empty (0 bytes).")
    try:
        img = Image.open(io.BytesIO(data), formats=list(formats))
    except UnidentifiedImageError as exc:
        raise ImageLoadError(f"Not a {', '.join(formats)} image.") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(f"Refused as a decompression bomb: {exc}") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageLoadError(f"The image cannot be decoded: {exc}") from exc
    cap = _cap(max_pixels)
    if img.width * img.height > cap:
        raise ImageLoadError(f"The image is {img.width}×{img.height}, over the {cap}-pixel cap.")
    return img


def displayed_size(data: bytes, *, formats: Sequence[str] = DEFAULT_FORMATS) -> tuple[int, int]:
    """Width × height as a viewer shows the image (EXIF orientation applied), from the header
    only: no pixel is decoded. Raises ImageLoadError."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = _open(data, formats, max_pixels=None)
    try:
        orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    except (OSError, ValueError, SyntaxError):  # a broken EXIF block: the pixels still stand
        orientation = 1
    return (img.height, img.width) if orientation in _SWAPS_SIDES else (img.width, img.height)


def open_image(data: bytes, *, formats: Sequence[str] = DEFAULT_FORMATS, max_pixels: int | None = None) -> Image.Image:
    """Decode `data` fully: first frame, EXIF orientation applied, mode left as stored.

    `max_pixels` defaults to ``settings.RENDERHUB_MAX_PIXELS``. Raises ImageLoadError.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = _open(data, formats, max_pixels)
        frames = int(getattr(img, "n_frames", 1) or 1)
        try:
            if frames > 1:
                img.seek(0)
            img.load()
            oriented = ImageOps.exif_transpose(img)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageLoadError(f"Refused as a decompression bomb: {exc}") from exc
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ImageLoadError(f"The image cannot be decoded: {exc}") from exc
    # exif_transpose returns a new image (a copy when there is nothing to turn), detached
    # from the file, so later frames are never read.
    oriented.info["rh_frames"] = frames
    oriented.info.setdefault("rh_format", img.format or "")
    return oriented


def _to_8bit(img: Image.Image) -> Image.Image:
    """Grey deeper than 8 bits → "L", scaled (not clipped) to 0..255."""
    import numpy as np

    values = np.asarray(img)
    if img.mode == "F":
        scaled = np.clip(values, 0.0, 255.0)
    else:
        # PNG stores 16-bit grey; Pillow opens it as I;16 or I with values 0..65535.
        scaled = (np.clip(values.astype(np.int64), 0, 65535) + 128) // 257
    return Image.fromarray(scaled.astype(np.uint8), mode="L")


def _cmyk_to_rgb(img: Image.Image) -> Image.Image:
    profile = img.info.get("icc_profile")
    if profile:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            return ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode="RGB")  # type: ignore[return-value]
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: Pillow's naive conversion is still a readable image
    return img.convert("RGB")


def to_rgba(img: Image.Image) -> Image.Image:
    """Any mode → RGB (opaque) or RGBA (when the image has transparency), 8 bits a channel."""
    if img.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        img = _to_8bit(img)
    if img.mode == "CMYK":
        return _cmyk_to_rgb(img)
    has_alpha = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
    if has_alpha:
        return img.convert("RGBA")
    return img if img.mode == "RGB" else img.convert("RGB")


def flatten(img: Image.Image) -> Image.Image:
    """RGBA → RGB on the ground (white or black) that contrasts most with the visible pixels.

    "Visible" weighs each pixel by its opacity; the colour under a transparent pixel (often
    black, whatever the picture) is ignored. Fully opaque images just drop the channel."""
    import numpy as np

    if img.mode != "RGBA":
        return img.convert("RGB")
    if img.getchannel("A").getextrema()[0] == 255:  # type: ignore[index]
        return img.convert("RGB")
    # The ground is chosen on a thumbnail: the mean needs no more pixels, and the sRGB power
    # curve over a full 768×512 image costs ~0.3 s.
    small = img.resize((min(img.width, 128), min(img.height, 128)), Image.Resampling.BOX)
    alpha = np.asarray(small.getchannel("A"), dtype=np.float64) / 255.0
    weight = alpha.sum()
    if weight > 0:
        rgb = np.asarray(small.convert("RGB"), dtype=np.float64) / 255.0
        lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
        luminance = lin @ np.array([0.2126, 0.7152, 0.0722])
        visible = float((luminance * alpha).sum() / weight)
    else:
        visible = 0.0  # nothing visible: a white page, as a viewer shows it
    # WCAG contrast of the visible content against white and against black.
    on_white, on_black = 1.05 / (visible + 0.05), (visible + 0.05) / 0.05
    ground = (255, 255, 255) if on_white >= on_black else (0, 0, 0)
    base = Image.new("RGBA", img.size, (*ground, 255))
    return Image.alpha_composite(base, img).convert("RGB")


def load_image(
    data: bytes,
    *,
    formats: Sequence[str] = DEFAULT_FORMATS,
    max_pixels: int | None = None,
    alpha: Literal["flatten", "keep"] = "flatten",
) -> Image.Image:
    """Decode `data` as a viewer shows it: an RGB image (``alpha="flatten"``, for reading) or
    RGB/RGBA (``alpha="keep"``, for images that are delivered). See the module docstring for
    what is applied. Raises ImageLoadError."""
    img = to_rgba(open_image(data, formats=formats, max_pixels=max_pixels))
    return flatten(img) if alpha == "flatten" else img
