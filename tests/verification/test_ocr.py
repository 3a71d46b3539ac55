import io

import pytest
from PIL import Image

from apps.verification.ocr import ocr_backend
from tests.verification.images import title_card


@pytest.mark.parametrize("name", ["rapidocr", "tesseract", "pytesseract"])
def test_backend_reads_a_title_with_word_boxes(name):
    image = Image.open(io.BytesIO(title_card("Harbour Lights Tonight")))

    words = ocr_backend(name).read(image)

    assert [w.text for w in words] == ["Harbour", "Lights", "Tonight"]
    assert all(340 <= w.box[1] < w.box[3] <= 420 and 0.5 < w.conf <= 1 for w in words)
    assert words[0].box[0] < words[1].box[0] < words[2].box[0]


def test_ocr_backend_is_loaded_once_per_process():
    assert ocr_backend("rapidocr") is ocr_backend("rapidocr")


def test_ocr_backend_default_is_rapidocr(settings):
    assert settings.RENDERHUB_OCR_BACKEND == "rapidocr"
    assert ocr_backend().name == "rapidocr"


def test_ocr_backend_unknown_name_is_an_error():
    with pytest.raises(ValueError, match="Unknown OCR backend"):
        ocr_backend("nope")


def test_ocr_backend_is_one_object_however_the_default_is_named(settings):
    # The worker warms `ocr_backend()`; the gate reads with `ocr_backend(None)`.
    assert ocr_backend() is ocr_backend(None) is ocr_backend(settings.RENDERHUB_OCR_BACKEND)
