"""The gate's evidence rules, one test per kind, on images drawn here with the machine's fonts."""

import pytest
from PIL import Image, ImageDraw, ImageFont

from apps.verification.gate import verify_image
from apps.verification.text import compare_slot, read_tokens, resolve_second_opinions, tokens
from tests.verification.images import FONT, card, png

LIMITS = {"word_order": "fail", "spacing": "pass", "low_confidence": 0.5, "fail_min_conf": 0.8}


def text_check(report):  # type: ignore[no-untyped-def]
    return next(c for c in report.checks if c.name.startswith("text:"))


def check(report, name):  # type: ignore[no-untyped-def]
    return next(c for c in report.checks if c.name == name)


@pytest.mark.parametrize(
    ("drawn", "expected", "what"),
    [
        ("SALE $9.99", "SALE €9.99", "currency"),
        ("NOW 999", "NOW 9.99", "decimal point"),
        ("SAVE 20 TODAY", "SAVE 20% TODAY", "percent sign"),
        ("NOW 20% OFF", "NOW -20% OFF", "sign"),
    ],
)
def test_verify_image_fails_an_amount_with_the_wrong_symbol(drawn, expected, what):
    report = verify_image(image=card([(drawn, (70, 300))], font_size=64), expected={"text": expected}, regions={})

    text = text_check(report)
    assert report.verdict == "fail", report.reasons
    [symbol] = text.evidence["symbols"]
    assert what in symbol["detail"]
    assert f"reads {drawn.split()[1]}, expected {expected.split()[1]}" in symbol["detail"]


def test_a_wrong_currency_is_described_as_a_price():
    report = verify_image(
        image=card([("SALE $9.99", (70, 300))], font_size=64), expected={"text": "SALE €9.99"}, regions={}
    )

    assert text_check(report).detail == "price reads $9.99, expected €9.99 (currency)"


def test_verify_image_passes_the_right_price():
    report = verify_image(
        image=card([("SALE €9.99", (70, 300))], font_size=64), expected={"text": "SALE €9.99"}, regions={}
    )

    assert report.verdict == "pass", report.reasons


@pytest.mark.parametrize(
    ("drawn", "expected"), [("SALE 9,99 €", "SALE 9.99 €"), ("NOW 1,000 SEATS", "NOW 1.000 SEATS")]
)
def test_verify_image_sends_a_swapped_decimal_separator_to_review_not_fail(drawn, expected):
    # "9,99 €" for "9.99 €" is the same price in the other notation; "1,000" for "1.000" may be
    # another amount: only a person can say, so neither is a confident FAIL.
    report = verify_image(image=card([(drawn, (70, 300))], font_size=64), expected={"text": expected}, regions={})

    assert report.verdict == "review", report.reasons
    assert "decimal separator reads" in text_check(report).detail


def test_verify_image_still_fails_wrong_digits_written_with_the_other_separator():
    report = verify_image(
        image=card([("SALE 8,99 €", (70, 300))], font_size=64), expected={"text": "SALE 9.99 €"}, regions={}
    )

    assert report.verdict == "fail", report.reasons


def test_tokens_keep_amounts_whole_and_drop_decoration():
    assert [t.norm for t in tokens("“Jazz Fest” — July 12. Entry € 9,50 · −20 % off, 2×3 m.")] == [
        "jazz",
        "fest",
        "july",
        "12",
        "entry",
        "€9,50",
        "-20%",
        "off",
        "2",
        "×",
        "3",
        "m",
    ]


def test_two_prices_keep_their_own_currency():
    assert [t.norm for t in tokens("MADE IN CHINA - $50.00 - $77.00 · 9,99 €")] == [
        "made",
        "in",
        "china",
        "$50.00",
        "$77.00",
        "9,99€",
    ]


def test_spacing_tolerance_never_joins_digits():
    def words(*texts):  # type: ignore[no-untyped-def]
        return read_tokens(
            [type("W", (), {"text": t, "conf": 0.99, "line": 0, "box": (0, 0, 50, 20)})() for t in texts]
        )

    assert compare_slot("SUMMER SALE 2026", words("SUMM", "ER", "SALE", "2026"), LIMITS).status == "pass"
    assert compare_slot("NOW 125", words("NOW", "12", "5"), LIMITS).status == "fail"


def test_verify_image_passes_the_expected_text_printed_twice():
    image = card([("FRESH BREAD", (60, 120)), ("FRESH BREAD", (60, 330))], font_size=56)

    report = verify_image(image=image, expected={"text": "FRESH BREAD"}, regions={})

    assert report.verdict == "pass", report.reasons
    assert text_check(report).evidence["repeated"] == 2


def small_print_card() -> bytes:
    img = Image.new("RGB", (768, 512), (27, 58, 107))
    draw = ImageDraw.Draw(img)
    draw.text((60, 120), "FRESH BREAD", font=ImageFont.truetype(str(FONT), 72), fill=(250, 246, 235))
    draw.text(
        (60, 400), "Ingredients: flour, water, salt", font=ImageFont.truetype(str(FONT), 22), fill=(250, 246, 235)
    )
    return png(img)


def test_verify_image_sends_small_print_to_review_not_a_spelling_failure():
    report = verify_image(image=small_print_card(), expected={"text": "FRESH BREAD"}, regions={})

    assert text_check(report).status == "pass", text_check(report).detail
    other = check(report, "other_text")
    assert other.status == "review"
    assert report.verdict == "review"
    assert "Ingredients" in other.detail


def test_other_text_check_is_configurable():
    report = verify_image(
        image=small_print_card(), expected={"text": "FRESH BREAD"}, regions={}, thresholds={"other_text": "ignore"}
    )

    assert report.verdict == "pass", report.reasons


def vertical_card(text: str, *, clockwise: bool) -> bytes:
    strip = Image.new("RGB", (700, 110), (245, 240, 228))
    ImageDraw.Draw(strip).text((20, 10), text, font=ImageFont.truetype(str(FONT), 80), fill=(20, 20, 20))
    img = Image.new("RGB", (512, 768), (240, 235, 225))
    ImageDraw.Draw(img).rectangle((40, 40, 120, 720), fill=(190, 60, 40))
    img.paste(strip.rotate(-90 if clockwise else 90, expand=True), (200, 34))
    return png(img)


@pytest.mark.parametrize("clockwise", [False, True])
def test_verify_image_never_fails_a_correct_vertical_title(clockwise):
    report = verify_image(
        image=vertical_card("SUMMER SALE", clockwise=clockwise), expected={"text": "SUMMER SALE"}, regions={}
    )

    assert report.verdict in ("pass", "review"), report.reasons


def test_verify_image_still_fails_a_misspelled_vertical_title():
    report = verify_image(
        image=vertical_card("SUMMER SLAE", clockwise=False), expected={"text": "SUMMER SALE"}, regions={}
    )

    assert report.verdict in ("fail", "review"), report.reasons


def _count_upright_reads(monkeypatch):  # type: ignore[no-untyped-def]
    from apps.verification.ocr import ocr_backend

    engine = ocr_backend()
    calls: list[object] = []
    original = engine.read_upright  # type: ignore[attr-defined]
    monkeypatch.setattr(engine, "read_upright", lambda image: calls.append(image) or original(image))
    return calls


def test_a_vertical_title_read_confidently_is_not_read_again_upright(monkeypatch):
    # Turned clockwise, the recogniser's own quarter turn sets it upright: the misspelling is read
    # as a word with full confidence, and an upright re-read could only read the same.
    calls = _count_upright_reads(monkeypatch)

    report = verify_image(
        image=vertical_card("SUMMER SLAE", clockwise=True), expected={"text": "SUMMER SALE"}, regions={}
    )

    assert report.verdict in ("fail", "review"), report.reasons
    assert calls == []


def test_a_vertical_title_read_upside_down_is_read_again_upright(monkeypatch):
    calls = _count_upright_reads(monkeypatch)

    report = verify_image(
        image=vertical_card("SUMMER SALE", clockwise=False), expected={"text": "SUMMER SALE"}, regions={}
    )

    assert len(calls) == 1
    assert report.verdict == "pass", report.reasons
    assert text_check(report).evidence["read_upright"] is True


def test_verify_image_asks_a_second_opinion_on_look_alike_glyphs():
    # A one for the letter l: look-alike glyphs, so the first read alone is not evidence.
    report = verify_image(
        image=card([("Wi1d Garden", (70, 300))], font_size=72), expected={"text": "Wild Garden"}, regions={}
    )

    text = text_check(report)
    assert "second_opinion" in text.evidence, (report.ocr_text, report.reasons, text.evidence)
    [item] = text.evidence["second_opinion"]
    assert (item["expected"], item["read"], item["why"]) == ("wild", "wi1d", "confusable")
    assert [r["engine"] for r in item["reads"]] == ["tesseract", "rapidocr"]
    want = {"pass": "pass", "fail": "fail", "review": "review"}[item["verdict"]]
    assert text.status == want


def _slot(read: str, conf: float = 0.99):  # type: ignore[no-untyped-def]
    words = [type("W", (), {"text": t, "conf": conf, "line": 0, "box": (0, 0, 80, 30)})() for t in read.split()]
    return compare_slot("ComfyUI is the best", read_tokens(words), LIMITS)


@pytest.mark.parametrize(
    ("second", "verdict"),
    [
        ([("tesseract", ["comfyui"]), ("rapidocr", ["comfyul"])], "pass"),
        ([("tesseract", ["comfyul"]), ("rapidocr", ["comfyul"])], "fail"),
        ([("tesseract", []), ("rapidocr", ["comfyul"])], "review"),
    ],
)
def test_second_opinion_decides_a_confusable_pair(second, verdict):
    first = _slot("ComfyUl is the best")
    assert first.status == "review" and first.evidence["second_opinion"][0]["why"] == "confusable"

    result = resolve_second_opinions(first, [second])

    assert result.status == verdict, result.detail


def test_a_confidently_misspelled_word_fails_but_an_unsure_one_does_not():
    assert _slot("ComfyUI is the bset").status == "fail"
    unsure = _slot("ComfyUI is the bset", conf=0.6)
    assert unsure.status == "review"
    assert unsure.evidence["second_opinion"][0]["why"] == "unsure"


def test_a_missing_word_fails_only_when_the_rest_was_read_well():
    assert _slot("ComfyUI is best").status == "fail"
    assert _slot("ComfyUI", conf=0.99).status == "review"  # three of four words not read at all


def test_cjk_text_is_one_token_per_character_so_spacing_never_matters():
    from apps.verification.text import tokens

    assert [t.norm for t in tokens("東京 夏祭り")] == ["東", "京", "夏", "祭", "り"]
    assert [t.norm for t in tokens("東京夏祭り")] == ["東", "京", "夏", "祭", "り"]
    assert [t.norm for t in tokens("Tokyo東京 2026")] == ["tokyo", "東", "京", "2026"]


def test_other_text_check_does_not_claim_no_other_text_beside_an_unexpected_word():
    """ "NEW SPRING SALE" for "SPRING SALE": the text check fails with "unexpected NEW"; other_text
    said "pass · No other text beside the expected words" next to it."""
    report = verify_image(
        image=card([("NEW SPRING SALE", (40, 300))], font_size=64), expected={"text": "SPRING SALE"}, regions={}
    )

    other = check(report, "other_text")
    assert text_check(report).detail == "unexpected NEW"
    assert other.status == "pass"
    assert other.detail == (
        "No separate line of other text; extra words on the expected lines are judged by the text check "
        "(unexpected NEW)."
    )


def test_other_text_ignored_says_so_instead_of_no_other_text():
    report = verify_image(
        image=small_print_card(), expected={"text": "FRESH BREAD"}, regions={}, thresholds={"other_text": "ignore"}
    )

    other = check(report, "other_text")
    assert other.status == "pass"
    assert other.detail.startswith("Other text ignored (other_text: ignore): “Ingredients")
