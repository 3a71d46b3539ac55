import io

import pytest
from PIL import Image, ImageDraw, ImageFont

from apps.verification.gate import compare_words, contrast_ratio, verify_image
from tests.verification.images import FONT, TITLE_REGION, card, png, title_card

REGIONS = {"title": TITLE_REGION}


def statuses(report):  # type: ignore[no-untyped-def]
    return {c.name: c.status for c in report.checks}


@pytest.mark.parametrize("backend", ["rapidocr", "tesseract"])
def test_verify_image_passes_the_exact_title(backend):
    report = verify_image(
        image=title_card("Harbour Lights Tonight"),
        expected={"title": "Harbour Lights Tonight"},
        regions=REGIONS,
        size=(768, 512),
        backend=backend,
    )

    assert report.verdict == "pass", report.reasons
    assert report.backend == backend
    assert set(statuses(report)) == {
        "image",
        "text:title",
        "layout:title",
        "legibility:title",
        "other_text",
        "extra_text",
    }
    assert report.ocr_text == "Harbour Lights Tonight"


def test_verify_image_fails_a_one_letter_hallucination_with_evidence():
    report = verify_image(
        image=title_card("Harbuor Lights Tonight"), expected={"title": "Harbour Lights Tonight"}, regions=REGIONS
    )

    text = next(c for c in report.checks if c.name == "text:title")
    assert report.verdict == "fail"
    assert text.evidence["missing"] == ["harbour"]
    assert text.evidence["extra"] == ["harbuor"]
    [pair] = text.evidence["misspelled"]
    assert (pair["expected"], pair["read"], pair["distance"], pair["why"]) == ("harbour", "harbuor", 2, "confident")
    assert text.evidence["edit_distance"] == 2
    assert text.evidence["cer"] == round(2 / len("harbour lights tonight"), 4)
    assert report.reasons == ["text:title: misspelled harbour → harbuor"]


def test_verify_image_fails_swapped_words():
    report = verify_image(
        image=title_card("Lights Harbour Tonight"), expected={"title": "Harbour Lights Tonight"}, regions=REGIONS
    )

    assert report.verdict == "fail"
    assert "wrong order" in report.reasons[0]


def test_word_order_threshold_per_template_makes_it_review():
    report = verify_image(
        image=title_card("Lights Harbour Tonight"),
        expected={"title": "Harbour Lights Tonight"},
        regions=REGIONS,
        thresholds={"word_order": "review"},
    )

    assert report.verdict == "review"


def test_verify_image_fails_text_outside_the_slots():
    image = card([("Harbour Lights", (70, 350)), ("FREE GIFT", (60, 60))])

    report = verify_image(image=image, expected={"title": "Harbour Lights"}, regions=REGIONS)

    assert statuses(report)["text:title"] == "pass"
    assert statuses(report)["extra_text"] == "fail"
    assert report.verdict == "fail"
    assert "FREE" in report.reasons[0] and "GIFT" in report.reasons[0]


def test_verify_image_flags_text_overflowing_its_region_for_review():
    # Inside the image, but starting 41 px left of the region (tolerance: 4 % of 768 px).
    image = card([("Harbour Lights Tonight", (5, 350))])

    report = verify_image(image=image, expected={"title": "Harbour Lights Tonight"}, regions=REGIONS)

    assert statuses(report)["layout:title"] == "review"
    assert report.verdict == "review"


def test_verify_image_flags_low_contrast_text_for_review():
    image = title_card("Harbour Lights", background=(120, 120, 120), fill=(150, 150, 150))

    report = verify_image(image=image, expected={"title": "Harbour Lights"}, regions=REGIONS)

    legibility = next(c for c in report.checks if c.name == "legibility:title")
    assert legibility.status == "review"
    assert legibility.evidence["contrast"] < 1.5


@pytest.mark.parametrize("font_size", [11, 12])
def test_verify_image_flags_text_too_small_to_read_for_review(font_size):
    """Glyphs 8–9 px high, under min_text_px (10): the OCR still reads them, but its word boxes
    are padded to ~21 px whatever the glyphs' size, so the height must be measured on the ink."""
    image = card([("HARBOUR LIGHTS", (70, 380))], font_size=font_size)

    report = verify_image(image=image, expected={"title": "HARBOUR LIGHTS"}, regions=REGIONS)

    legibility = next(c for c in report.checks if c.name == "legibility:title")
    assert report.ocr_text == "HARBOUR LIGHTS"
    assert legibility.status == "review"
    assert legibility.evidence["min_height_px"] < 10


def test_verify_image_measures_the_glyphs_height_not_the_box():
    report = verify_image(image=title_card("HARBOUR"), expected={"title": "HARBOUR"}, regions=REGIONS)

    legibility = next(c for c in report.checks if c.name == "legibility:title")
    assert legibility.status == "pass"
    # DejaVu Sans Bold capitals at 48 px: 35–37 px high with anti-aliasing.
    assert legibility.evidence["min_height_px"] in range(34, 39)


def test_verify_image_checks_the_palette():
    image = title_card("Harbour Lights")

    near = verify_image(
        image=image, expected={"title": "Harbour Lights"}, regions=REGIONS, palette=["#1b3a6b", "#f2c14e"]
    )
    far = verify_image(
        image=image, expected={"title": "Harbour Lights"}, regions=REGIONS, palette=["#00ff00", "#ff00ff"]
    )

    assert statuses(near)["palette"] == "pass"
    assert statuses(far)["palette"] == "review"
    assert far.verdict == "review"


def test_verify_image_fails_a_blank_image():
    report = verify_image(image=png(Image.new("RGB", (768, 512), (9, 9, 9))), expected={"title": "X"}, regions={})

    assert report.verdict == "fail"
    assert report.reasons == ["image: The image is blank (one flat colour)."]


def test_verify_image_says_faint_text_may_be_there_rather_than_calling_the_image_blank():
    # Grey 130 on grey 128: a title is drawn, nobody can read it; "blank" claimed what was not seen.
    image = Image.new("RGB", (768, 512), (128, 128, 128))
    font = ImageFont.truetype(str(FONT), 72)
    ImageDraw.Draw(image).text((70, 200), "HARBOUR LIGHTS", fill=(131, 131, 131), font=font)

    report = verify_image(image=png(image), expected={"title": "HARBOUR LIGHTS"}, regions={})

    assert report.verdict == "fail"
    assert "too little contrast to read" in report.reasons[0]
    assert "blank (one flat colour)" not in report.reasons[0]


def test_verify_image_fails_bytes_that_are_not_an_image():
    report = verify_image(image=b"%!PS-Adobe-3.0 EPSF", expected={"title": "X"}, regions={})

    assert report.verdict == "fail"
    assert report.reasons[0].startswith("image: The image cannot be decoded")


def test_verify_image_fails_a_truncated_png():
    report = verify_image(image=title_card("Harbour")[:400], expected={"title": "Harbour"}, regions={})

    assert report.verdict == "fail"


def test_verify_image_fails_the_wrong_shape_but_accepts_a_scaled_one():
    image = Image.open(io.BytesIO(title_card("Harbour Lights")))
    square = png(image.resize((512, 512)))
    scaled = png(image.resize((1152, 768)))

    wrong = verify_image(image=square, expected={"title": "Harbour Lights"}, regions=REGIONS, size=(768, 512))
    fine = verify_image(image=scaled, expected={"title": "Harbour Lights"}, regions=REGIONS, size=(768, 512))

    assert wrong.verdict == "fail" and "Wrong size" in wrong.reasons[0]
    assert fine.verdict == "pass", fine.reasons


def test_compare_words_review_after_folding_diacritics():
    check = compare_words("Crisis Report", "Crisís Report")

    assert check.status == "review"
    assert check.evidence["folded"] is True


def test_compare_words_review_after_dropping_ornament_tokens():
    check = compare_words("Spring Sale", "Spring xxx Sale")

    assert check.status == "review"
    assert check.evidence["ornaments"] == ["xxx"]


def test_compare_words_review_on_low_confidence():
    check = compare_words("Spring Sale", "Spring Sale", confidences=[0.99, 0.31])

    assert check.status == "review"


def test_compare_words_ignores_how_words_were_segmented():
    assert compare_words("SUMMER DESIGN FOOTBALL", "SUMM ER DESIGNFOOTBALL").status == "pass"


def test_compare_words_is_case_and_punctuation_insensitive():
    assert compare_words("Mama's Kitchen!", "MAMA'S KITCHEN").status == "pass"


def test_compare_words_fails_a_missing_word():
    check = compare_words("The Quiet Coast", "The Coast")

    assert (check.status, check.evidence["missing"], check.detail) == ("fail", ["quiet"], "missing quiet")


def test_contrast_ratio_matches_wcag():
    assert round(contrast_ratio((0, 0, 0), (255, 255, 255)), 1) == 21.0
    assert round(contrast_ratio((118, 118, 118), (255, 255, 255)), 2) == 4.54


def test_verify_image_fails_an_image_over_the_pixel_cap(settings):
    settings.RENDERHUB_MAX_PIXELS = 100 * 100

    report = verify_image(image=title_card("Harbour"), expected={"title": "Harbour"}, regions={})

    assert report.verdict == "fail"
    assert "pixel cap" in report.reasons[0]


def test_verify_image_compares_slots_without_regions_as_one_bag():
    image = card([("SALE", (300, 80)), ("Mama's Kitchen", (120, 350))])

    report = verify_image(image=image, expected={"text1": "Mama's Kitchen", "text2": "SALE"}, regions={})

    assert report.verdict == "pass", report.reasons
    assert [c.name for c in report.checks if c.name.startswith("text:")] == ["text:text1+text2"]


def test_verify_image_slot_with_region_and_a_loose_slot():
    image = card([("SALE", (300, 80)), ("Harbour Lights", (70, 350))])

    report = verify_image(image=image, expected={"title": "Harbour Lights", "badge": "SALE"}, regions=REGIONS)

    assert report.verdict == "pass", report.reasons
    assert {c.name: c.evidence.get("read") for c in report.checks if c.name.startswith("text:")} == {
        "text:title": "Harbour Lights",
        "text:badge": "SALE",
    }
