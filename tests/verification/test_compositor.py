import io

from PIL import Image

from apps.renders.compositor import Placement, composite_text, contrast
from apps.verification.gate import verify_image
from tests.verification.images import TITLE_REGION, png, title_card

REGIONS = {"title": TITLE_REGION}


def test_composite_text_replaces_a_misspelled_title():
    misspelled = title_card("Harbuor Ligths")
    assert verify_image(image=misspelled, expected={"title": "Harbour Lights"}, regions=REGIONS).verdict == "fail"

    fixed = composite_text(image=misspelled, texts={"title": "Harbour Lights"}, regions=REGIONS, palette=[])

    report = verify_image(image=fixed, expected={"title": "Harbour Lights"}, regions=REGIONS)
    assert report.verdict == "pass", report.reasons


def test_composite_text_lays_a_scrim_over_a_busy_background():
    stripes = Image.new("RGB", (768, 512), (0, 0, 0))
    for x in range(0, 768, 16):
        stripes.paste((255, 255, 255), (x, 0, x + 8, 512))
    placements: list[Placement] = []

    composite_text(image=png(stripes), texts={"title": "Harbour"}, regions=REGIONS, palette=[], placements=placements)

    assert placements[0].scrim > 0
    assert placements[0].contrast >= 4.5


def test_composite_text_picks_a_palette_colour_with_enough_contrast():
    placements: list[Placement] = []

    composite_text(
        image=png(Image.new("RGB", (768, 512), (20, 30, 60))),
        texts={"title": "Spring Sale"},
        regions=REGIONS,
        palette=["#1b3a6b", "#f2c14e"],
        placements=placements,
    )

    [placed] = placements
    assert (placed.colour, placed.scrim) == ("#f2c14e", 0.0)
    assert placed.contrast >= 4.5


def test_composite_text_lays_a_scrim_when_no_colour_reaches_the_target():
    background = Image.new("RGB", (768, 512), (128, 128, 128))
    placements: list[Placement] = []

    out = composite_text(
        image=png(background), texts={"title": "Quiet"}, regions=REGIONS, palette=["#8a8a8a"], placements=placements
    )

    [placed] = placements
    assert placed.scrim > 0
    assert placed.contrast >= 4.5
    img = Image.open(io.BytesIO(out)).convert("RGB")
    x0, y0, _, _ = placed.box
    under = img.getpixel((x0 + 3, y0 + 3))
    assert contrast(under, (255, 255, 255)) >= 4.5 or contrast(under, (17, 17, 17)) >= 4.5


def test_composite_text_wraps_long_text_and_is_deterministic():
    image = png(Image.new("RGB", (768, 512), (240, 240, 235)))
    text = "The Quiet Coast: Stories of a Long Winter by the Sea"
    placements: list[Placement] = []

    first = composite_text(image=image, texts={"title": text}, regions=REGIONS, palette=[], placements=placements)
    second = composite_text(image=image, texts={"title": text}, regions=REGIONS, palette=[])

    assert first == second
    assert len(placements[0].lines) == 2
    assert " ".join(placements[0].lines) == text


def test_composite_text_places_a_logo():
    logo = png(Image.new("RGB", (100, 100), (255, 0, 0)))

    out = composite_text(
        image=png(Image.new("RGB", (768, 512), (0, 0, 0))),
        texts={},
        regions={},
        palette=[],
        logo=logo,
        logo_region=[0.8, 0.05, 0.95, 0.25],
    )

    img = Image.open(io.BytesIO(out)).convert("RGB")
    assert img.getpixel((700, 60)) == (255, 0, 0)
    assert img.getpixel((100, 300)) == (0, 0, 0)
