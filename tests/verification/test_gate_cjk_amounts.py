"""Amounts on a line with CJK text: RapidOCR returns such a line one character at a time, and
the gate must still read "￥1,280" as one amount (issue 8, "FAIL only on evidence")."""

import pytest
from PIL import Image, ImageDraw, ImageFont

from apps.verification.gate import verify_image
from apps.verification.ocr import OcrWord, regroup_characters
from tests.verification.images import TITLE_REGION, png

CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"  # Debian fonts-noto-cjk


def cjk_card(title: str, size: int = 56) -> bytes:
    """A 768×512 card with `title` in Noto Sans CJK JP Bold inside TITLE_REGION."""
    img = Image.new("RGB", (768, 512), (27, 58, 107))
    draw = ImageDraw.Draw(img)
    draw.text((60, 340), title, font=ImageFont.truetype(CJK_FONT, size, index=0), fill=(250, 246, 235))
    draw.ellipse((560, 40, 720, 200), fill=(242, 193, 78))
    return png(img)


def verdict(drawn: str, expected: str) -> tuple[str, list[str]]:
    report = verify_image(
        image=cjk_card(drawn), expected={"title": expected}, regions={"title": TITLE_REGION}, size=(768, 512)
    )
    return report.verdict, report.reasons


@pytest.mark.parametrize(
    "title",
    ["特価 ￥1,280", "特価 ¥1,280", "東京 12.25 ¥", "セール ￥１，２８０", "東京 SALE 50%", "2個で ¥1,000 OFF"],
)
def test_a_correct_amount_on_a_cjk_line_passes(title):
    status, reasons = verdict(title, title)

    assert status == "pass", reasons


@pytest.mark.parametrize(
    ("drawn", "expected"),
    [
        ("特価 ￥1,208", "特価 ￥1,280"),  # digits swapped
        ("特価 $1,280", "特価 ￥1,280"),  # wrong currency
        ("特価 ￥12.80", "特価 ￥1,280"),  # a thousands separator became a decimal point
        ("東京 SALE 5%", "東京 SALE 50%"),  # a lost digit
    ],
)
def test_a_wrong_amount_on_a_cjk_line_still_fails(drawn, expected):
    status, reasons = verdict(drawn, expected)

    assert status == "fail", reasons


def _char(text: str, x0: int, x1: int, conf: float = 1.0) -> OcrWord:
    return OcrWord(text, (x0, 10, x1, 60), conf, 0)


def test_regroup_joins_a_per_character_amount_and_keeps_ideographs_single():
    chars = [_char("特", 71, 113), _char("価", 126, 168), _char("￥", 192, 234, 0.7)]
    chars += [_char(c, x, x + 27) for c, x in zip("1,280", (236, 263, 290, 317, 344), strict=True)]

    words = regroup_characters(chars, "特価￥1,280")

    assert [(w.text, w.box[0], w.box[2], w.conf) for w in words] == [
        ("特", 71, 113, 1.0),
        ("価", 126, 168, 1.0),
        ("￥1,280", 192, 371, 0.7),
    ]


def test_regroup_splits_where_the_line_text_has_a_space_or_the_gap_is_wide():
    chars = [_char("京", 40, 80)]
    chars += [_char(c, x, x + 25) for c, x in zip("NOW", (100, 125, 150), strict=True)]
    chars += [_char(c, x, x + 25) for c, x in zip("50", (200, 225), strict=True)]  # a space the text lacks
    chars += [_char(c, x, x + 25) for c, x in zip("OFF", (260, 285, 310), strict=True)]

    by_text = regroup_characters(chars, "京NOW50 OFF")

    assert [w.text for w in by_text] == ["京", "NOW", "50", "OFF"]
