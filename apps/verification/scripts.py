"""What the gate can check: letters and digits in the scripts its OCR reads.

Measured with ``python manage.py script_ocr`` (phrases in `SAMPLES`, drawn by the built-in
simulation in the faces of apps.core.fonts, 768×512, every image correct). With RapidOCR's
bundled PP-OCRv6 models, Latin, Chinese and Japanese (Han, kana) titles pass; Cyrillic and
Arabic are read as nothing, Greek as Latin look-alikes (ΚΑΛΟ → KAΛO), Hangul and Hebrew as
other characters, so every correct image of those would fail: the gate cannot verify them and
a job that asks for them on a verifying tier is refused at submission (`unverifiable_scripts`).
Tesseract here has only its English model. The README of apps/verification has the table.
"""

from apps.core.scripts import CJK, scripts_in

# Scripts whose correct text the OCR reads back (measured, see the module docstring).
VERIFIED_SCRIPTS = frozenset({"Latin", "Han", "Hiragana", "Katakana"})

# Phrases of the kind editors set, per script, for the measurement.
SAMPLES: dict[str, list[str]] = {
    "Latin": ["SUMMER SALE", "Fresh Bread", "GRAND OPENING 2026", "Café Crème"],
    "Cyrillic": ["ЛЕТНЯЯ РАСПРОДАЖА", "Свежий хлеб", "КНИЖНАЯ ЯРМАРКА", "Добро пожаловать"],
    "Greek": ["ΚΑΛΟΚΑΙΡΙΝΕΣ ΕΚΠΤΩΣΕΙΣ", "Φρέσκο ψωμί", "ΑΘΗΝΑ 2026", "Καλημέρα"],
    "Chinese": ["东京", "新年快乐", "夏季促销", "欢迎光临"],
    "Japanese": ["東京", "ありがとう", "セール", "こんにちは"],
    "Korean": ["서울", "안녕하세요", "여름 세일", "신선한 빵"],
    "Arabic": ["تخفيضات الصيف", "خبز طازج", "مرحبا", "القاهرة"],
    "Hebrew": ["מבצע קיץ", "לחם טרי", "שלום", "ירושלים"],
}


def checkable(text: str) -> bool:
    """Whether `text` has anything the gate compares: a letter or a digit. Emoji, symbols and
    punctuation alone are not checked (the gate folds them away), so they verify nothing."""
    return any(ch.isalnum() for ch in text)


def unverifiable_scripts(text: str) -> list[str]:
    """The scripts in `text` that the gate cannot read back, named for people ("Cyrillic",
    "Korean (Hangul)"), each once."""
    names = []
    for script in scripts_in(text):
        if script in VERIFIED_SCRIPTS:
            continue
        names.append("Korean (Hangul)" if script == "Hangul" else f"CJK ({script})" if script in CJK else script)
    return list(dict.fromkeys(names))
