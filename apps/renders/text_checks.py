"""Submission checks on the text a job must show, so a job that cannot succeed never starts.

- An invisible bidirectional embedding, override or isolate control (U+202A–U+202E,
  U+2066–U+2069), pasted in by accident or to spoof: the image would set the text reversed or
  reordered, unlike what the editor sees in the form, and every verification would fail.
  Refused on every tier, naming the code point (the character itself would reorder the
  message). The marks LRM, RLM and ALM and the joiners stay allowed: they only nudge shaping.
- A character no RenderHub font can draw (an emoji, a rare symbol) would come out of the
  simulation and the compositor (the escalation ladder's last step) as an empty box: refused,
  naming the character, on every tier.
- On a tier that verifies (or degrades to one that does): text with no letter or digit is
  refused, since the gate would check nothing; so is text in a script the gate's OCR cannot
  read (apps.verification.scripts), which would fail every attempt of the ladder.

Text that passes these checks and the jobs with no expected text at all are described by
`unverified_reason`: what the job page and the API say instead of "Verification passed".
"""

import unicodedata

from apps.core.fonts import face_for, missing_glyphs
from apps.core.scripts import scripts_in
from apps.policy.models import Tier
from apps.verification.scripts import checkable, unverifiable_scripts

NO_EXPECTED_TEXT = "not verified: no expected text"
VERIFICATION_OFF = "not verified: verification is off for this tier"


def _describe(ch: str) -> str:
    return f"“{ch}” (U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character')})"


def _verifying(tier: Tier | None) -> bool:
    if tier is None:
        return False
    cheaper = tier.degrade_to if tier.degrade_to_id else None
    return bool(tier.verify_ocr or (cheaper is not None and cheaper.verify_ocr))


# Unicode's explicit directional embeddings, overrides and isolates (UAX #9, table 1).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def text_problem(text: str, *, verify: bool) -> str:
    """Why `text` cannot be rendered (and, when `verify`, verified) — "" when it can."""
    controls = [ch for ch in dict.fromkeys(text) if ch in BIDI_CONTROLS]
    if controls:
        named = ", ".join(f"U+{ord(ch):04X} {unicodedata.name(ch)}" for ch in controls)
        return (
            f"The text holds an invisible direction control ({named}): the image would show the text "
            "reversed or reordered. Remove it (retype the text rather than pasting it)."
        )
    missing = missing_glyphs(text)
    if missing:
        listed = ", ".join(_describe(ch) for ch in missing[:3]) + (" …" if len(missing) > 3 else "")
        return f"{listed} cannot be drawn: RenderHub's fonts have no glyph for it. Remove or replace it."
    if face_for(text) is None:
        return f"Text mixing {', '.join(scripts_in(text))} cannot be set in one typeface; put each in its own slot."
    if not verify:
        return ""
    if not checkable(text):
        return (
            "This text has no letters or digits, so verification cannot check it; "
            "write the words the image must show (or use a tier without verification)."
        )
    scripts = unverifiable_scripts(text)
    if scripts:
        return (
            f"Text in {', '.join(scripts)} cannot be verified: the verification OCR does not read this script, "
            "so every render would fail verification. Use a tier without verification for it."
        )
    return ""


def texts_problems(*, texts: dict[str, str], tier: Tier | None, from_prompt: bool = False) -> dict[str, str]:
    """Field → message for each text that must be refused at submission (empty: all fine).

    The field is the slot's name, or "prompt" when the texts were taken from a free prompt's
    quotations."""
    verify = _verifying(tier)
    problems: dict[str, str] = {}
    for slot, text in texts.items():
        problem = text_problem(text, verify=verify)
        if problem:
            field = "prompt" if from_prompt else slot
            problems.setdefault(field, f"“{text}”: {problem}" if from_prompt else problem)
    return problems


def unverified_reason(*, tier: Tier, texts: dict[str, str]) -> str:
    """What stands in for a verdict when a job's images are not checked ("" when they are)."""
    if not tier.verify_ocr:
        return VERIFICATION_OFF
    if not any(checkable(text) for text in texts.values()):
        return NO_EXPECTED_TEXT
    return ""
