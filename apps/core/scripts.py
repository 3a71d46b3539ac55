"""Which writing system (script) each character of a text belongs to.

Named from the Unicode character names (``unicodedata.name``), which start with the script for
every letter RenderHub cares about ("LATIN CAPITAL LETTER A", "CYRILLIC SMALL LETTER EN",
"CJK UNIFIED IDEOGRAPH-6771", "HIRAGANA LETTER A", "ARABIC LETTER ALEF", …). Digits,
punctuation and symbols belong to no script ("Common" in Unicode's Scripts.txt).
"""

import unicodedata

# Name prefix → script, longest first where one prefix contains another.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("LATIN", "Latin"),
    ("GREEK", "Greek"),
    ("COPTIC", "Coptic"),
    ("CYRILLIC", "Cyrillic"),
    ("ARMENIAN", "Armenian"),
    ("HEBREW", "Hebrew"),
    ("ARABIC", "Arabic"),
    ("SYRIAC", "Syriac"),
    ("THAANA", "Thaana"),
    ("DEVANAGARI", "Devanagari"),
    ("BENGALI", "Bengali"),
    ("GURMUKHI", "Gurmukhi"),
    ("GUJARATI", "Gujarati"),
    ("TAMIL", "Tamil"),
    ("TELUGU", "Telugu"),
    ("KANNADA", "Kannada"),
    ("MALAYALAM", "Malayalam"),
    ("THAI", "Thai"),
    ("LAO", "Lao"),
    ("TIBETAN", "Tibetan"),
    ("GEORGIAN", "Georgian"),
    ("ETHIOPIC", "Ethiopic"),
    ("HANGUL", "Hangul"),
    ("HIRAGANA", "Hiragana"),
    ("KATAKANA", "Katakana"),
    ("HALFWIDTH KATAKANA", "Katakana"),
    ("HALFWIDTH HANGUL", "Hangul"),
    ("CJK UNIFIED IDEOGRAPH", "Han"),
    ("CJK COMPATIBILITY IDEOGRAPH", "Han"),
    ("BOPOMOFO", "Bopomofo"),
    ("FULLWIDTH LATIN", "Latin"),
)
# Scripts written in CJK fonts; "CJK" names the group in messages.
CJK = frozenset({"Han", "Hiragana", "Katakana", "Hangul", "Bopomofo"})


def script_of(ch: str) -> str:
    """The script of one character, or "" for digits, punctuation, symbols and spaces."""
    if not ch.isalpha():
        return ""
    name = unicodedata.name(ch, "")
    for prefix, script in _PREFIXES:
        if name.startswith(prefix):
            return script
    if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\U00020000" <= ch <= "\U0003ffff":
        return "Han"  # unnamed ideographs (ranges without per-character names)
    return "Other"


def scripts_in(text: str) -> list[str]:
    """The scripts of `text`'s letters, each once, in order of first appearance."""
    return list(dict.fromkeys(s for s in (script_of(ch) for ch in text) if s))
