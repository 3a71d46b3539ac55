"""The text a free prompt asks to be written: what it quotes.

Quotation marks of the common typographic conventions are recognised, each opener with the
closers it takes (sources: Wikipedia "Quotation mark", table "Summary of various
conventions"; Unicode's Pi/Pf punctuation classes):

=============================  ==========================================
opener                         closers
=============================  ==========================================
``"`` straight                 ``"``
``'`` straight                 ``'``
``“`` (English, Chinese)       ``”``
``„`` (German, Polish, …)      ``“`` ``”``
``”`` (Swedish, Finnish)       ``”``
``‘`` (English)                ``’``
``‚`` (German single)          ``‘`` ``’``
``’`` (Swedish single)         ``’``
``«`` / ``»``                  ``»`` / ``«`` (French, German, Danish)
``‹`` / ``›``                  ``›`` / ``‹``
``「`` ``『`` ``〝`` ``＂``      ``」`` ``』`` ``〞``/``〟`` ``＂`` (CJK)
=============================  ==========================================

Only the outermost quotation is taken, whole: in ``„Er sagte ‚Hallo‘“`` the text is
``Er sagte ‚Hallo‘``. A single quote (straight or curly) between two letters is an apostrophe
(``Mama's``), never an opener or a closer. A quotation longer than `MAX_QUOTED` characters,
or one never closed, is not text to write.
"""

PAIRS: dict[str, str] = {
    '"': '"',
    "'": "'",
    "“": "”",
    "„": "“”",
    "”": "”",
    "‘": "’",
    "‚": "‘’",
    "’": "’",
    "«": "»",
    "»": "«",
    "‹": "›",
    "›": "‹",
    "「": "」",
    "『": "』",
    "〝": "〞〟",
    "＂": "＂",
}
# Marks that double as apostrophes: only at a word's edge do they quote.
APOSTROPHES = frozenset("'’‘")
MAX_QUOTED = 400


def _is_word(ch: str) -> bool:
    return ch.isalnum()


def _can_open(text: str, i: int) -> bool:
    if text[i] not in APOSTROPHES:
        return True
    before = text[i - 1] if i > 0 else " "
    after = text[i + 1] if i + 1 < len(text) else " "
    return not _is_word(before) and not after.isspace()


def _can_close(text: str, i: int) -> bool:
    if text[i] not in APOSTROPHES:
        return True
    after = text[i + 1] if i + 1 < len(text) else " "
    return not _is_word(after)


def _closing(text: str, start: int) -> int | None:
    """Index of the nearest mark closing the quotation opened at `start`, or None.

    Each convention nests with marks of another kind („…‚…‘…“, “…‘…’…”, «…“…”…», 「…『…』…」),
    whose closers are never the outer closers, so the nearest outer closer ends the quotation.
    `str.find` keeps this linear in the prompt's length for any input."""
    end, best = min(len(text), start + MAX_QUOTED + 2), None
    for closer in PAIRS[text[start]]:
        k = text.find(closer, start + 1, end)
        while k != -1 and not _can_close(text, k):
            k = text.find(closer, k + 1, end)
        if k != -1 and (best is None or k < best):
            best = k
    return best


def quoted_texts(prompt: str) -> list[str]:
    """Texts a prompt asks to be written, outermost quotations only, each once, in order.

    >>> quoted_texts("Plakat mit dem Schriftzug „SOMMERFEST 2026“ und «Entrée libre»")
    ['SOMMERFEST 2026', 'Entrée libre']
    """
    found: list[str] = []
    i = 0
    while i < len(prompt):
        if prompt[i] in PAIRS and _can_open(prompt, i):
            end = _closing(prompt, i)
            if end is not None:
                text = " ".join(prompt[i + 1 : end].split())
                if text:
                    found.append(text)
                i = end + 1
                continue
        i += 1
    return list(dict.fromkeys(found))
