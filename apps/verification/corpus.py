"""A labelled evaluation corpus for the gate, generated deterministically from a seed.

Each sample is a 768×512 thumbnail with a title in one of three layout bands. Half carry the
title exactly; the other half carry one typographic hallucination of a known kind, drawn as if
the model had made it (the expected text stays the correct title):

- ``substitute``: one letter replaced by a look-alike (a→o, e→c, rn→m …);
- ``drop`` / ``double`` / ``transpose``: one letter dropped, doubled, or swapped with the next;
- ``swap_words``: two words trade places; ``missing_word``; ``extra_word`` ("the the", a filler);
- ``garble``: one or two letters replaced by look-alike glyphs (ø ł ħ ŋ ő á …);
- amounts (titles that carry a price or a percentage): ``currency`` (€9.99 drawn $9.99),
  ``decimal`` (9.99 drawn 999 or 99.9), ``percent`` (20% drawn 20), ``sign`` (−20% drawn 20%).

Layouts, for correct and hallucinated samples alike (`meta["layout"]`): ``plain``; ``vertical``
(the title turned 90° either way in a side column); ``repeated`` (the title printed twice, as on
two T-shirts; no region, like a free prompt); ``small_print`` (a line of small real words beside
the title; no region — the gate sends it to REVIEW by default, never a spelling FAIL). About one
correct title in six carries a correct amount. Image encodings (transparency, EXIF orientation,
16-bit grey, palette, CMYK) and Chinese and Japanese titles are variants drawn after the split's
samples from a stream of their own (`corpus_variants`, ``generate(variants=…)``).

Variety: many open fonts (DejaVu, Liberation, Noto; whatever of them is installed, see
`.ci/system-packages.sh`), sizes 26–84 px, one or two lines, strokes, shadows, mild blur, and
flat, gradient, noise and busy photo-like backgrounds. A share of the samples are outputs of
the built-in engine simulation (its own typo injection, labelled by what it drew).

Splits: ``dev`` and ``test`` come from different seeds; thresholds are tuned on ``dev`` only,
numbers are reported on ``test``.
"""

import io
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from PIL import Image, ImageDraw, ImageFilter, ImageFont

KINDS = ["substitute", "drop", "double", "transpose", "swap_words", "missing_word", "extra_word", "garble"]
AMOUNT_KINDS = ["currency", "decimal", "percent", "sign"]
ALL_KINDS = KINDS + AMOUNT_KINDS
LAYOUTS = {"vertical": 0.08, "repeated": 0.04, "small_print": 0.03}  # the rest: plain
COLUMNS = {"left": [0.03, 0.04, 0.33, 0.96], "right": [0.67, 0.04, 0.97, 0.96]}
CURRENCIES = ["$", "€", "£", "¥"]
SPLIT_SEEDS = {"dev": 1001, "test": 2002}
SIZE = (768, 512)
BANDS = {
    "top": [0.05, 0.05, 0.95, 0.36],
    "middle": [0.05, 0.33, 0.95, 0.67],
    "bottom": [0.05, 0.62, 0.95, 0.95],
}
FONT_DIRS = [
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/truetype/liberation2",
    "/usr/share/fonts/truetype/liberation",
    "/usr/share/fonts/truetype/noto",
]
FONT_PREFIXES = (
    "DejaVuSans",
    "DejaVuSerif",
    "Liberation",
    "NotoSans-",
    "NotoSerif-",
    "NotoSansDisplay-",
    "NotoSerifDisplay-",
)
_WORDS = """
spring summer autumn winter harvest festival market night city river harbour lights garden kitchen
morning evening weekend journal review report guide season opening grand final sale offer week
island mountain coast valley forest desert ocean travel stories voices future history science
design studio coffee bakery fresh local modern classic golden silver quiet bright wild open
election budget housing climate energy water health school music theatre cinema sports football
marathon cycling recipes dinner brunch table bread cheese wine spirits books poetry letters
portrait gallery museum archive culture weather tomorrow tonight inside beyond north south east west
heritage frontier pioneer horizon crossing bridge tower station canvas colour shadow
victory record notes drafts edition special issue podcast live launch summit forum dialogue
"""
WORDS = _WORDS.split()
LOOKALIKE = {
    "a": "o", "o": "a", "e": "c", "c": "e", "i": "l", "l": "i", "n": "h", "h": "n", "u": "v", "v": "u",
    "s": "z", "t": "f", "f": "t", "r": "n", "g": "q", "b": "h", "m": "n", "d": "b", "y": "v", "w": "v",
    "k": "x", "p": "q",
}  # fmt: skip
GARBLE = {
    "o": "ø", "l": "ł", "h": "ħ", "n": "ŋ", "a": "á", "e": "é", "u": "ü", "i": "í", "c": "ç", "s": "ş",
    "d": "đ", "r": "ř", "t": "ŧ", "g": "ğ", "y": "ý", "z": "ž",
}  # fmt: skip
FILLERS = ["the", "and", "of", "new", "best", "now", "more", "live"]


@dataclass
class Sample:
    id: str
    image: bytes
    expected: dict[str, str]
    regions: dict[str, list[float]]
    label: str  # ok | hallucinated
    kind: str  # ok or one of KINDS (or the built-in engine's kind)
    source: str  # synthetic | builtin
    drawn: str
    meta: dict[str, object] = field(default_factory=dict)


def fonts() -> list[Path]:
    found: list[Path] = []
    seen: set[str] = set()
    for folder in FONT_DIRS:
        for path in sorted(Path(folder).glob("*.ttf")):
            if path.name.startswith(FONT_PREFIXES) and "Math" not in path.name and path.name not in seen:
                seen.add(path.name)
                found.append(path)
    for path in sorted((Path(settings.BASE_DIR) / "static" / "fonts").glob("*.ttf")):
        if path.name not in seen:
            found.append(path)
    return found


def hallucinate(title: str, kind: str, rng: random.Random) -> str:
    """`title` with one hallucination of `kind`; always differs from `title` once normalised."""
    words = title.split()
    positions = [i for i, ch in enumerate(title) if ch.isalpha()]
    if kind == "substitute":
        options = [i for i in positions if title[i].lower() in LOOKALIKE]
        i = rng.choice(options)
        new = LOOKALIKE[title[i].lower()]
        return title[:i] + (new.upper() if title[i].isupper() else new) + title[i + 1 :]
    if kind == "drop":
        options = [i for i in positions if len(_word_at(title, i)) > 2]
        i = rng.choice(options or positions)
        return title[:i] + title[i + 1 :]
    if kind == "double":
        i = rng.choice(positions)
        return title[:i] + title[i] + title[i:]
    if kind == "transpose":
        options = [i for i in positions if i + 1 < len(title) and title[i + 1].isalpha() and title[i] != title[i + 1]]
        i = rng.choice(options)
        return title[:i] + title[i + 1] + title[i] + title[i + 2 :]
    if kind == "swap_words":
        pairs = [k for k in range(len(words) - 1) if words[k].lower() != words[k + 1].lower()]
        k = rng.choice(pairs)
        words[k], words[k + 1] = words[k + 1], words[k]
        return " ".join(words)
    if kind == "missing_word":
        del words[rng.randrange(len(words))]
        return " ".join(words)
    if kind == "extra_word":
        if rng.random() < 0.4:
            k = rng.randrange(len(words))
            words.insert(k, words[k])  # "the the"
        else:
            filler = rng.choice(FILLERS)
            filler = filler.upper() if title.isupper() else filler
            words.insert(rng.randrange(len(words) + 1), filler)
        return " ".join(words)
    if kind in AMOUNT_KINDS:
        return _wrong_amount(title, kind, rng)
    if kind == "garble":
        options = [i for i in positions if title[i].lower() in GARBLE]
        chosen = sorted(rng.sample(options, min(len(options), rng.choice([1, 1, 2]))))
        out = list(title)
        for i in chosen:
            new = GARBLE[title[i].lower()]
            out[i] = new.upper() if title[i].isupper() else new
        return "".join(out)
    raise ValueError(kind)


def _amount(rng: random.Random, kind: str) -> str:
    """A price or a percentage as printed on a poster, shaped so that `kind` can be applied."""
    if kind == "percent" or kind == "sign" or (kind == "ok" and rng.random() < 0.4):
        value = f"{rng.choice([5, 10, 15, 20, 25, 30, 40, 50, 70])}%"
        return ("-" + value) if kind == "sign" or rng.random() < 0.4 else value
    cents = rng.choice(["99", "50", "95", "49", "00", "25"])
    value = f"{rng.randint(1, 99)}.{cents}"
    currency = rng.choice(CURRENCIES) if kind != "currency" else rng.choice(["€", "£", "$"])
    return f"{currency}{value}" if rng.random() < 0.7 else f"{value} {currency}"


def _wrong_amount(title: str, kind: str, rng: random.Random) -> str:
    import re

    match = re.search(r"[-$€£¥]*\d+(?:\.\d+)?%?(?: [$€£¥])?", title)
    if match is None:
        raise ValueError(f"{title!r} carries no amount")
    amount = match.group()
    if kind == "currency":
        old = next(ch for ch in amount if ch in "$€£¥")
        new = rng.choice([c for c in CURRENCIES if c != old])
        wrong = amount.replace(old, new)
    elif kind == "decimal":
        digits = re.search(r"\d+\.\d+", amount).group()  # type: ignore[union-attr]
        whole, cents = digits.split(".")
        moved = whole + cents if rng.random() < 0.6 else f"{whole}{cents[0]}.{cents[1:]}"
        wrong = amount.replace(digits, moved)
    elif kind == "percent":
        wrong = amount.replace("%", "")
    else:  # sign
        wrong = amount.replace("-", "", 1)
    return title[: match.start()] + wrong + title[match.end() :]


def _word_at(text: str, i: int) -> str:
    start = text.rfind(" ", 0, i) + 1
    end = text.find(" ", i)
    return text[start : end if end >= 0 else len(text)]


def _title(rng: random.Random, kind: str) -> str:
    if kind in AMOUNT_KINDS or (kind == "ok" and rng.random() < 0.17):
        words = rng.sample(WORDS, rng.randint(1, 3))
        amount = _amount(rng, kind)
        head = " ".join(words).upper() if rng.random() < 0.5 else " ".join(w.capitalize() for w in words)
        return f"{head} {amount}" if rng.random() < 0.7 else f"{amount} {head}"
    while True:
        n = rng.randint(2, 6)
        words = rng.sample(WORDS, n)
        case = rng.random()
        if case < 0.45:
            title = " ".join(w.capitalize() for w in words)
        elif case < 0.75:
            title = " ".join(words).upper()
        else:
            title = " ".join(words).capitalize()
        if kind == "swap_words" and len({w.lower() for w in words}) < 2:
            continue
        if len(title) <= 44:
            return title


def _noise(rng: random.Random, size: tuple[int, int], sigma: float) -> Image.Image:
    """Gaussian grey noise around 128, seeded (Pillow's effect_noise is not)."""
    import numpy as np

    values = np.random.default_rng(rng.randrange(2**32)).normal(128, sigma, (size[1], size[0]))
    return Image.fromarray(np.clip(values, 0, 255).astype("uint8"), mode="L")


def _background(rng: random.Random) -> tuple[Image.Image, str]:
    w, h = SIZE
    style = rng.choice(["flat", "gradient", "noise", "photo", "photo"])
    base = tuple(rng.randrange(256) for _ in range(3))
    if style == "flat":
        return Image.new("RGB", SIZE, base), style  # type: ignore[arg-type]
    if style == "gradient":
        other = tuple(rng.randrange(256) for _ in range(3))
        column = Image.linear_gradient("L").resize((w, h))
        if rng.random() < 0.5:
            column = column.rotate(90, expand=False).resize((w, h))
        return Image.composite(Image.new("RGB", SIZE, base), Image.new("RGB", SIZE, other), column), style  # type: ignore[arg-type]
    if style == "noise":
        noise = _noise(rng, (w // 4, h // 4), rng.uniform(20, 70)).resize(SIZE).convert("RGB")
        tint = Image.new("RGB", SIZE, base)  # type: ignore[arg-type]
        return Image.blend(noise, tint, 0.55), style
    # Photo-like: soft blobs and shapes of many colours, then grain.
    img = Image.new("RGB", SIZE, base)  # type: ignore[arg-type]
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(12, 30)):
        colour = tuple(rng.randrange(256) for _ in range(3))
        x, y, r = rng.randrange(w), rng.randrange(h), rng.randint(20, 200)
        if rng.random() < 0.6:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)  # type: ignore[arg-type]
        else:
            draw.rectangle((x - r, y - r // 3, x + r, y + r // 3), fill=colour)  # type: ignore[arg-type]
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(6, 18)))
    grain = _noise(rng, SIZE, rng.uniform(8, 25)).convert("RGB")
    return Image.blend(img, grain, 0.12), style


def _luminance(rgb: tuple[int, ...]) -> float:
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]


def _layout(
    draw: ImageDraw.ImageDraw,
    text: str,
    font_path: Path,
    size: int,
    box: tuple[int, int, int, int],
    index: int = 0,
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest size ≤ `size` at which `text` fits in `box` on one or two lines (`index`: the
    face in a .ttc collection)."""
    words = text.split()
    bw, bh = box[2] - box[0], box[3] - box[1]
    while True:
        font = ImageFont.truetype(str(font_path), size, index=index)
        options = [[text]]
        if len(words) > 1:
            cut = math.ceil(len(words) / 2)
            options.append([" ".join(words[:cut]), " ".join(words[cut:])])
        for lines in options:
            width = max(draw.textlength(line, font=font) for line in lines)
            if width <= bw * 0.96 and len(lines) * size * 1.25 <= bh * 0.96:
                return font, lines
        size -= 2
        if size < 16:
            return ImageFont.truetype(str(font_path), 16, index=index), options[-1]


def render_title(
    rng: random.Random,
    text: str,
    band: list[float],
    font_path: Path,
    *,
    index: int = 0,
    transparent: bool = False,
) -> tuple[Image.Image, dict]:
    """The title on a background (RGB), or with `transparent` only the title on a transparent
    ground (RGBA) whose hidden colour is the text's own (dark text over transparent black, light
    over transparent white: what engines asked for a transparent background return, and what a
    reader that drops the alpha channel sees as nothing). The same draws from `rng` either way."""
    img, style = _background(rng)
    w, h = SIZE
    box = (int(band[0] * w), int(band[1] * h), int(band[2] * w), int(band[3] * h))
    draw = ImageDraw.Draw(img)
    font, lines = _layout(draw, text, font_path, rng.randint(26, 84), box, index)
    size = font.size
    mean = img.crop(box).resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    light = _luminance(mean) < 128  # type: ignore[arg-type]
    hue = [rng.randrange(256) for _ in range(3)]
    fill = tuple(220 + v % 36 for v in hue) if light else tuple(v % 50 for v in hue)
    stroke = rng.random() < 0.3
    shadow = rng.random() < 0.3
    stroke_fill = (0, 0, 0) if light else (255, 255, 255)
    stroke_width = rng.randint(1, max(1, size // 18)) if stroke else 0
    layer = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    ldraw = ImageDraw.Draw(layer)
    total = len(lines) * size * 1.25
    y = box[1] + (box[3] - box[1] - total) / 2 + rng.uniform(-0.1, 0.1) * (box[3] - box[1] - total)
    align = rng.choice(["left", "centre", "centre"])
    for line in lines:
        width = draw.textlength(line, font=font)
        x = box[0] + 8 if align == "left" else box[0] + (box[2] - box[0] - width) / 2
        if shadow:
            off = max(2, size // 14)
            ldraw.text((x + off, y + off), line, font=font, fill=(*stroke_fill, 150))
        ldraw.text(
            (x, y), line, font=font, fill=(*fill, 255), stroke_width=stroke_width, stroke_fill=(*stroke_fill, 255)
        )
        y += size * 1.25
    blur = rng.random() < 0.25
    if blur:
        layer = layer.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 0.9)))
    if transparent:
        hidden = (255, 255, 255) if light else (0, 0, 0)
        img = Image.alpha_composite(Image.new("RGBA", SIZE, (*hidden, 0)), layer)
        style = "transparent"
    else:
        img = Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")
    meta = {"font": font_path.name, "size": size, "lines": len(lines), "background": style}
    meta.update({"stroke": stroke, "shadow": shadow, "blur": blur})
    return img, meta


def _draw_lines(
    layer: Image.Image, lines: list[str], font: ImageFont.FreeTypeFont, box: tuple[int, int, int, int], fill: tuple
) -> None:
    draw = ImageDraw.Draw(layer)
    size = font.size
    y = box[1] + (box[3] - box[1] - len(lines) * size * 1.25) / 2
    for line in lines:
        width = draw.textlength(line, font=font)
        draw.text((box[0] + (box[2] - box[0] - width) / 2, y), line, font=font, fill=fill)
        y += size * 1.25


def render_vertical(rng: random.Random, text: str, column: list[float], font_path: Path) -> tuple[Image.Image, dict]:
    """The title turned 90° (either way) in a side column."""
    img, style = _background(rng)
    w, h = SIZE
    box = (int(column[0] * w), int(column[1] * h), int(column[2] * w), int(column[3] * h))
    strip_size = (box[3] - box[1], box[2] - box[0])  # laid out lying down, then turned
    mean = img.crop(box).resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    light = _luminance(mean) < 128  # type: ignore[arg-type]
    hue = [rng.randrange(256) for _ in range(3)]
    fill = tuple(220 + v % 36 for v in hue) if light else tuple(v % 50 for v in hue)
    strip = Image.new("RGBA", strip_size, (0, 0, 0, 0))
    font, lines = _layout(ImageDraw.Draw(strip), text, font_path, rng.randint(30, 72), (0, 0, *strip_size))
    _draw_lines(strip, lines, font, (0, 0, *strip_size), (*fill, 255))
    clockwise = rng.random() < 0.5
    turned = strip.rotate(-90 if clockwise else 90, expand=True)
    layer = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    layer.paste(turned, (box[0], box[1]))
    img = Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")
    meta = {"font": font_path.name, "size": font.size, "lines": len(lines), "background": style}
    meta.update({"turned": "clockwise" if clockwise else "anticlockwise"})
    return img, meta


def render_extra(
    rng: random.Random, img: Image.Image, band: list[float], texts: list[str], font_path: Path, size: int
) -> None:
    """Draw `texts` (one line each) centred in `band`, in the contrasting colour of the band."""
    w, h = SIZE
    box = (int(band[0] * w), int(band[1] * h), int(band[2] * w), int(band[3] * h))
    mean = img.crop(box).resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    fill = (245, 245, 240) if _luminance(mean) < 128 else (15, 15, 20)  # type: ignore[arg-type]
    draw = ImageDraw.Draw(img)
    font, lines = _layout(draw, " ".join(texts), font_path, size, box)
    _draw_lines(img, lines if len(texts) == 1 else texts, font, box, fill)


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _builtin_sample(rng: random.Random, index: int, split: str) -> Sample:
    from apps.engines.adapters.builtin import BuiltinAdapter
    from apps.engines.models import Engine
    from apps.engines.types import EngineRequest

    adapter = BuiltinAdapter(Engine(params={"typo_rate": 0.5}))
    title = _title(rng, "ok")
    band_name = rng.choice(list(BANDS))
    band = BANDS[band_name]
    request = EngineRequest(
        prompt=f'Editorial cover illustration with the title "{title}" in large letters',
        negative_prompt="",
        seed=rng.randrange(2**31),
        width=SIZE[0],
        height=SIZE[1],
        guidance=0,
        adapter_ref="",
        extra={"text_regions": [band]},
    )
    png, simulation = adapter.render(request)
    drawn = simulation["drawn_texts"][0]
    typo = drawn.split() != title.split()
    kinds = simulation["injected_typos"]
    return Sample(
        id=f"{split}-{index:05d}",
        image=png,
        expected={"title": title},
        regions={"title": band},
        label="hallucinated" if typo else "ok",
        kind=(kinds[0] if kinds else "substitute") if typo else "ok",
        source="builtin",
        drawn=drawn,
        meta={"band": band_name},
    )


def generate(
    *, split: str = "dev", n: int = 200, builtin_share: float = 0.15, variants: float = 0.0
) -> Iterator[Sample]:
    """Yield `n` labelled samples of a split, then ``round(n * variants)`` variants (image
    encodings and CJK titles, `corpus_variants`) from a random stream of their own: the same
    split and n always give the same first n images, whatever `variants` is."""
    yield from _base_samples(split=split, n=n, builtin_share=builtin_share)
    if variants > 0:
        from apps.verification.corpus_variants import variant_samples

        yield from variant_samples(split=split, count=round(n * variants), start=n)


def _base_samples(*, split: str, n: int, builtin_share: float) -> Iterator[Sample]:
    rng = random.Random(SPLIT_SEEDS[split])
    font_paths = fonts()
    for index in range(n):
        if rng.random() < builtin_share:
            yield _builtin_sample(rng, index, split)
            continue
        bad = index % 2 == 1
        kind = ALL_KINDS[(index // 2) % len(ALL_KINDS)] if bad else "ok"
        title = _title(rng, kind)
        drawn = hallucinate(title, kind, rng) if bad else title
        layout = _pick_layout(rng)
        font_path = rng.choice(font_paths)
        band_name = rng.choice(list(BANDS))
        regions: dict[str, list[float]] = {"title": BANDS[band_name]}
        if layout == "vertical":
            band_name = rng.choice(list(COLUMNS))
            regions = {"title": COLUMNS[band_name]}
            img, meta = render_vertical(rng, drawn, COLUMNS[band_name], font_path)
        else:
            img, meta = render_title(rng, drawn, BANDS[band_name], font_path)
            others = [b for b in BANDS if b != band_name and not _overlaps(BANDS[b], BANDS[band_name])]
            if layout == "repeated" and others:
                render_extra(rng, img, BANDS[others[0]], [drawn], font_path, meta["size"])  # type: ignore[arg-type]
                regions = {}
            elif layout == "small_print" and others:
                words = rng.sample(WORDS, rng.randint(3, 6))
                small = " ".join(words).capitalize() + rng.choice(["", ".", " · 250 g"])
                render_extra(rng, img, BANDS[others[0]], [small], font_path, rng.randint(14, 20))
                meta["small_print"] = small
                regions = {}
            else:
                layout = "plain"
        yield Sample(
            id=f"{split}-{index:05d}",
            image=_png(img),
            expected={"title": title},
            regions=regions,
            label="hallucinated" if bad else "ok",
            kind=kind,
            source="synthetic",
            drawn=drawn,
            meta={"band": band_name, "layout": layout, **meta},
        )


def _pick_layout(rng: random.Random) -> str:
    roll = rng.random()
    for layout, share in LAYOUTS.items():
        if roll < share:
            return layout
        roll -= share
    return "plain"


def _overlaps(a: list[float], b: list[float]) -> bool:
    return a[1] < b[3] and b[1] < a[3]
