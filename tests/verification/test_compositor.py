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


def test_composite_text_sets_the_title_on_an_exif_rotated_engine_image_as_a_viewer_shows_it():
    # A 768×512 picture stored sideways (Orientation 6): composited on the stored pixels, the
    # title would land across a 512×768 image and the result would be the wrong shape.
    upright = Image.new("RGB", (768, 512), (40, 90, 150))
    upright.paste((240, 200, 60), (0, 0, 384, 512))  # left half yellow: shows which way is up
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buf, format="JPEG", quality=92, exif=exif)

    out = composite_text(image=buf.getvalue(), texts={"title": "Harbour Lights"}, regions=REGIONS, palette=[])

    img = Image.open(io.BytesIO(out)).convert("RGB")
    assert img.size == (768, 512)
    assert img.getpixel((20, 20))[2] < 120  # yellow top-left, as shown upright
    report = verify_image(image=out, expected={"title": "Harbour Lights"}, regions=REGIONS, size=(768, 512))
    assert report.verdict == "pass", report.reasons


def test_composite_text_on_a_transparent_engine_image_keeps_dark_text_readable():
    # Engines asked for a transparent background return it with pure black under the clear
    # pixels; dropping the alpha channel would paint the whole ground black.
    img = Image.new("RGBA", (768, 512), (0, 0, 0, 0))
    img.paste((20, 30, 60, 255), (40, 40, 300, 200))

    out = composite_text(image=png(img), texts={"title": "Harbour Lights"}, regions=REGIONS, palette=[])

    report = verify_image(image=out, expected={"title": "Harbour Lights"}, regions=REGIONS)
    assert report.verdict == "pass", report.reasons
    assert Image.open(io.BytesIO(out)).convert("RGB").getpixel((700, 20)) == (255, 255, 255)
