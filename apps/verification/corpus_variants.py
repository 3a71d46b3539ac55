"""Variants of the evaluation corpus: what the base generator (`corpus`) does not draw.

Two families, each half correct and half with one hallucination (the expected text stays the
correct title), every sample's kind in ``meta``:

- ``meta["encoding"]``: how the image bytes the gate receives are stored, as engines and
  uploads store them. The title is drawn as in `corpus.render_title`, then encoded:
  ``rgba-transparent`` (only the title, on a transparent ground whose hidden colour is the
  text's own: a reader that drops the alpha channel sees nothing), ``exif-rotated`` (a JPEG
  whose pixels are stored turned, with the EXIF Orientation 3, 6 or 8 that turns them back),
  ``16-bit`` (a 16-bit grey PNG, values 0..65535), ``palette`` (an adaptive-palette PNG of 32 to
  256 colours) and ``cmyk`` (a CMYK JPEG, no ICC profile).
- ``meta["script"]``: ``Chinese`` (Simplified) or ``Japanese`` (kanji and kana) titles in the Noto
  CJK faces, the scripts `scripts.VERIFIED_SCRIPTS` accepts on verifying tiers (the others are
  refused at submission, so no job in them reaches the gate; ``manage.py script_ocr`` measures
  them). Their hallucinations act on characters: ``substitute`` (a look-alike character:
  東 → 束, シ → ツ), ``drop``, ``double``, ``transpose``.

The variants come from their own random stream (the split's seed + `VARIANT_SEED`), so adding
them leaves the split's first n samples as they were.
"""

import io
import random
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from apps.verification.corpus import (
    ALL_KINDS,
    BANDS,
    SPLIT_SEEDS,
    Sample,
    _png,
    _title,
    fonts,
    hallucinate,
    render_title,
)

VARIANT_SEED = 7919
ENCODINGS = ("rgba-transparent", "exif-rotated", "16-bit", "palette", "cmyk")
SCRIPTS = ("Chinese", "Japanese")
GROUPS: list[tuple[str, str]] = [("encoding", e) for e in ENCODINGS] + [("script", s) for s in SCRIPTS]
CJK_KINDS = ("substitute", "drop", "double", "transpose")

CJK_TITLES = {
    "Chinese": [
        "东京", "新年快乐", "夏季促销", "欢迎光临", "春节特卖", "咖啡时光", "美食节", "城市之夜", "周末市场",
        "新鲜面包", "天天特价", "午夜电影", "人民公园", "早安上海", "未来科技", "大海之歌", "书店开业",
    ],
    "Japanese": [
        "東京", "ありがとう", "セール", "こんにちは", "夏祭り", "新発売", "期間限定", "桜まつり", "大阪の夜",
        "日本の旅", "天気予報", "土曜日", "人気ランキング", "ソフトクリーム", "ツアー情報", "お知らせ", "未来の街",
    ],
}  # fmt: skip
# Characters that a model draws for one another (one stroke more or less, a mirrored tick).
CJK_LOOKALIKE = {
    "东": "车", "京": "亰", "大": "太", "天": "夭", "日": "曰", "未": "末", "人": "入", "土": "士",
    "午": "牛", "王": "玉", "東": "束", "夏": "夂", "新": "亲", "市": "巿", "书": "韦", "早": "旱",
    "シ": "ツ", "ツ": "シ", "ソ": "ン", "ン": "ソ", "ク": "ケ", "は": "ほ", "ね": "れ", "る": "ろ",
    "ぬ": "め", "さ": "ち", "セ": "ヤ", "ル": "レ", "ア": "マ", "ト": "卜",
}  # fmt: skip
_CJK_REPLACEMENTS = "的一是不了在有我他这中大来上国个到说们为子和你地出道也时年"
# The face index of each script in the Noto CJK collections (fontTools' order: JP 0, SC 2).
_CJK_FILES = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc",
]
_CJK_INDEX = {"Japanese": 0, "Chinese": 2}
# EXIF orientation → the turn that stores displayed pixels so that the orientation undoes it.
_STORED_TURN = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def variant_samples(*, split: str, count: int, start: int) -> Iterator[Sample]:
    """`count` variant samples, ids numbered from `start`; the groups of `GROUPS` in turn, a
    correct and a hallucinated sample of each. Deterministic per split and count."""
    rng = random.Random(SPLIT_SEEDS[split] + VARIANT_SEED)
    font_paths = fonts()
    cjk_files = [Path(p) for p in _CJK_FILES if Path(p).exists()]
    for i in range(count):
        bad = i % 2 == 1
        family, name = GROUPS[(i // 2) % len(GROUPS)]
        sample_id = f"{split}-{start + i:05d}"
        if family == "script" and cjk_files:
            yield _script_sample(rng, sample_id, name, bad, cjk_files)
        elif family == "encoding":
            yield _encoded_sample(rng, sample_id, name, bad, font_paths)


def _encoded_sample(rng: random.Random, sample_id: str, encoding: str, bad: bool, font_paths: list[Path]) -> Sample:
    kind = rng.choice(ALL_KINDS) if bad else "ok"
    title = _title(rng, kind)
    drawn = hallucinate(title, kind, rng) if bad else title
    band_name = rng.choice(list(BANDS))
    font_path = rng.choice(font_paths)
    img, meta = render_title(rng, drawn, BANDS[band_name], font_path, transparent=encoding == "rgba-transparent")
    data, how = encode(img, encoding, rng)
    return Sample(
        id=sample_id,
        image=data,
        expected={"title": title},
        regions={"title": BANDS[band_name]},
        label="hallucinated" if bad else "ok",
        kind=kind,
        source="synthetic",
        drawn=drawn,
        meta={"band": band_name, "layout": "plain", "encoding": encoding, **how, **meta},
    )


def _script_sample(rng: random.Random, sample_id: str, script: str, bad: bool, cjk_files: list[Path]) -> Sample:
    title = rng.choice(CJK_TITLES[script])
    kind = rng.choice(CJK_KINDS) if bad else "ok"
    drawn = hallucinate_cjk(title, kind, rng) if bad else title
    band_name = rng.choice(list(BANDS))
    font_path = rng.choice(cjk_files)
    img, meta = render_title(rng, drawn, BANDS[band_name], font_path, index=_CJK_INDEX[script])
    return Sample(
        id=sample_id,
        image=_png(img),
        expected={"title": title},
        regions={"title": BANDS[band_name]},
        label="hallucinated" if bad else "ok",
        kind=kind,
        source="synthetic",
        drawn=drawn,
        meta={"band": band_name, "layout": "plain", "script": script, **meta},
    )


def hallucinate_cjk(title: str, kind: str, rng: random.Random) -> str:
    """`title` (Chinese or Japanese) with one hallucination of `kind` acting on characters;
    always differs from `title`. Raises ValueError for another kind."""
    chars = list(title)
    if kind == "substitute":
        options = [i for i, ch in enumerate(chars) if ch in CJK_LOOKALIKE]
        if options:
            i = rng.choice(options)
            chars[i] = CJK_LOOKALIKE[chars[i]]
        else:
            i = rng.randrange(len(chars))
            chars[i] = rng.choice([c for c in _CJK_REPLACEMENTS if c != chars[i]])
    elif kind == "drop":
        del chars[rng.randrange(len(chars))]
    elif kind == "double":
        i = rng.randrange(len(chars))
        chars.insert(i, chars[i])
    elif kind == "transpose":
        options = [i for i in range(len(chars) - 1) if chars[i] != chars[i + 1]]
        i = rng.choice(options)
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
    else:
        raise ValueError(kind)
    return "".join(chars)


def encode(img: Image.Image, encoding: str, rng: random.Random) -> tuple[bytes, dict[str, object]]:
    """The image's bytes stored as `encoding` (see the module docstring) and what was chosen
    (``orientation``, ``colours``). Decoded as a viewer shows it (`apps.core.images.load_image`),
    the result is the drawn image (for 16-bit, its grey; for JPEG, within compression).
    Raises ValueError for an unknown encoding."""
    import numpy as np

    buf = io.BytesIO()
    how: dict[str, object] = {}
    if encoding == "rgba-transparent":
        img.save(buf, format="PNG", compress_level=1)
    elif encoding == "exif-rotated":
        orientation = rng.choice(sorted(_STORED_TURN))
        exif = Image.Exif()
        exif[0x0112] = orientation
        img.convert("RGB").transpose(_STORED_TURN[orientation]).save(buf, format="JPEG", quality=92, exif=exif)
        how["orientation"] = orientation
    elif encoding == "16-bit":
        grey = np.asarray(img.convert("L"), dtype=np.uint16) * 257
        Image.fromarray(grey).save(buf, format="PNG", compress_level=1)  # mode I;16
    elif encoding == "palette":
        colours = rng.choice([32, 64, 256])
        img.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=colours).save(buf, format="PNG")
        how["colours"] = colours
    elif encoding == "cmyk":
        img.convert("RGB").convert("CMYK").save(buf, format="JPEG", quality=92)
    else:
        raise ValueError(f"unknown encoding {encoding!r}")
    return buf.getvalue(), how
