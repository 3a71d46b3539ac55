"""Synthetic training pairs for a template: the template prompt with sample texts → the exact
typography the template asks for, set by RenderHub's compositor (apps/renders/compositor.py)
over a plain palette backdrop.

They teach an adapter where and how the template's text goes, not what the art looks like:
the backdrop is a soft gradient of the template's palette, never a model's picture. Every pair
is marked ``"synthetic": true`` in the manifest. Same template and seed, same bytes.
"""

import hashlib
import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

from apps.catalog.models import Template
from apps.catalog.services import TemplateTextError, template_resolve
from apps.renders.compositor import DEFAULT_FONT, composite_text
from apps.verification.corpus import WORDS

FALLBACK_PALETTE = ["#1b3a6b", "#f2c14e", "#f78154", "#4d9078"]


@dataclass(frozen=True)
class SyntheticPair:
    key: str  # "synthetic-0001"
    seed: int
    texts: dict[str, str]
    prompt: str
    image: bytes  # PNG
    font: str


def _rgb(value: str) -> tuple[int, int, int]:
    value = value.strip().lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def backdrop(*, width: int, height: int, palette: list[str], rng: random.Random) -> bytes:
    """A PNG: a vertical gradient between two palette colours with a few blurred shapes."""
    colours = [_rgb(c) for c in palette if len(c.strip().lstrip("#")) == 6] or [_rgb(c) for c in FALLBACK_PALETTE]
    top, bottom = rng.sample(colours, 2) if len(colours) >= 2 else (colours[0], colours[0])
    column = Image.new("RGB", (1, height))
    for y in range(height):
        t = y / max(height - 1, 1)
        column.putpixel((0, y), tuple(int(top[c] * (1 - t) + bottom[c] * t) for c in range(3)))
    img = column.resize((width, height)).convert("RGBA")
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(rng.randint(2, 5)):
        colour = rng.choice(colours)
        cx, cy = rng.randrange(width), rng.randrange(height)
        r = rng.randint(min(width, height) // 8, min(width, height) // 3)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*colour, rng.randint(50, 120)))
    layer = layer.filter(ImageFilter.GaussianBlur(radius=max(2, min(width, height) // 40)))
    out = io.BytesIO()
    Image.alpha_composite(img, layer).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def sample_text(*, rng: random.Random, max_length: int) -> str:
    """One to four common English words in title case that fit `max_length` characters."""
    for _ in range(50):
        words = [w.title() for w in rng.sample(WORDS, rng.randint(1, 4))]
        while words and len(" ".join(words)) > max_length:
            words.pop()
        if words:
            return " ".join(words)
    return rng.choice([w for w in WORDS if len(w) <= max_length] or ["Sale"]).title()[:max_length]


def synthetic_pairs(*, template: Template, count: int, seed: int, avoid: set[str] | None = None) -> list[SyntheticPair]:
    """`count` pairs for `template`, deterministic in (template slug, seed).

    Texts are drawn per slot within its max_length; a combination already in `avoid` (the
    real renders' texts, as "slot=text|…" keys) or already drawn is drawn again. Raises
    TemplateTextError only if the template itself cannot be filled (a slot with no room)."""
    base = int.from_bytes(hashlib.sha256(f"{template.slug}\x00{seed}".encode()).digest()[:8], "big")
    rng = random.Random(base)
    taken = set(avoid or ())
    pairs: list[SyntheticPair] = []
    tries = 0
    while len(pairs) < count and tries < count * 20:
        tries += 1
        texts = {
            slot["name"]: sample_text(rng=rng, max_length=int(slot.get("max_length", 40))) for slot in template.slots
        }
        key = texts_key(texts)
        if key in taken:
            continue
        taken.add(key)
        try:
            resolved = template_resolve(template=template, texts=texts)
        except TemplateTextError:
            continue
        pair_seed = rng.randrange(2**31)
        art = backdrop(width=template.width, height=template.height, palette=template.palette, rng=rng)
        image = composite_text(image=art, texts=resolved.texts, regions=resolved.regions, palette=template.palette)
        pairs.append(
            SyntheticPair(
                key=f"synthetic-{len(pairs) + 1:04d}",
                seed=pair_seed,
                texts=resolved.texts,
                prompt=resolved.prompt,
                image=image,
                font=DEFAULT_FONT,
            )
        )
    return pairs


def texts_key(texts: dict[str, str]) -> str:
    """A stable key for a set of slot texts (order of slots aside)."""
    return "|".join(f"{k}={v}" for k, v in sorted(texts.items()))
