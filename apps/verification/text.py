"""Compare the text a slot asks for with the words the recogniser read there.

Tokens (`tokens`): text is NFKC-normalised and case-folded; words are runs of letters and digits;
**amounts** are numbers with their meaningful symbols kept as one token: sign, currency symbol
(before or after), digits with their decimal and thousands separators, and a percent sign
("SALE $9.99" → ``sale``, ``$9.99``; "−20 %" → ``-20%``). Other meaningful symbols (× ° and a
currency symbol or % on its own) are tokens too. Everything else (dashes between phrases,
quotation marks, bullets, trailing stops, emoji) is decoration and ignored.

Rules (`compare_slot`), each verdict naming its evidence:

- PASS: the same tokens in the same order; the expected text repeated whole (two T-shirts);
  letters split or joined differently — never across a digit or a decimal point, so "NOW 999"
  is not "NOW 9.99"; a confusable or unsure read that a second opinion read as expected.
- FAIL needs positive evidence: a word read with good confidence (`fail_min_conf`) that is close
  to an expected word but spelled differently; an amount whose currency, decimal point, sign or
  percent differs; a missing word where the rest of the slot was read well; a confidently read
  extra word on the title's lines.
- REVIEW: accents the recogniser dropped; a low-confidence read; text the recogniser could not
  read (nothing read, garbled low-confidence fragments, vertical boxes it misread); confusable
  glyphs (I/l/1, O/0, rn/m, cl/d, vv/w, ×/x, ,/.) when the second opinion disagrees.
- Lines that share nothing with the expected text (small print, labels) are **other text**, a
  separate check (`other_text`: review | fail | ignore) and never a spelling failure.

Pending second opinions are returned in the evidence (``second_opinion``) with the word's box;
the gate resolves them with `resolve_second_opinions` once it has read the crops again.
"""

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

PASS, REVIEW, FAIL, SKIP = "pass", "review", "fail", "skip"

CURRENCY = "$€£¥₹₽₩₺₴₦₱₪฿¢₫₲₵₡"
_TOKEN = re.compile(
    r"(?P<num>(?<![^\W_])[+\-±]?\d+(?:[.,]\d+)*(?![^\W\d_]))"  # not glued to letters: "NF4" is a word
    rf"|(?P<sym>[%‰×°{re.escape(CURRENCY)}])"
    r"|(?P<word>[^\W_]+)"
)
_CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # kana, CJK ideographs
_CJK = re.compile(f"[{_CJK_RANGES}]")
_CJK_PARTS = re.compile(f"[{_CJK_RANGES}]|[^{_CJK_RANGES}]+")
_GLUED_SIGN = re.compile(r"([^\W\d_])([+\-±]\d)")
# Letters with a stroke have no Unicode decomposition; OCR and models confuse them with the
# plain letter as often as accented ones.
_STROKES = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ŧ": "t", "ƀ": "b", "ı": "i", "ŋ": "n"})
# Glyph groups a recogniser confuses on stylised type; case matters (I and l, not i and l).
_CONFUSABLE_CHARS = [set("Il1|!"), set("O0Q"), set("o0"), set("S5"), set("B8"), set("Z2"), set("×xX"), set(".,")]
_CONFUSABLE_SEQS = [("rn", "m"), ("cl", "d"), ("vv", "w"), ("VV", "W"), ("ri", "n"), ("li", "h")]


def cjk_char(ch: str) -> bool:
    """Whether `ch` (one character) is an ideograph or kana: Chinese and Japanese set no spaces
    between words, so each is compared as a token of its own."""
    return bool(_CJK.fullmatch(ch))


def fold(token: str) -> str:
    decomposed = unicodedata.normalize("NFKD", token.translate(_STROKES))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_STROKES)


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class Token:
    norm: str  # case-folded, what is compared
    raw: str  # as read (case kept), for confusable glyphs
    kind: str  # word | amount | symbol
    conf: float = 1.0
    line: int = 0
    box: tuple[int, int, int, int] | None = None
    vertical: bool = False  # its line is set vertically (taller than wide)

    @property
    def is_number(self) -> bool:
        return self.kind == "amount"


def _scan(text: str) -> list[tuple[str, str]]:
    text = unicodedata.normalize("NFKC", text).replace("\u2212", "-")
    # A sign glued to a word by the recogniser ("Climate-20%") still belongs to its number.
    text = _GLUED_SIGN.sub(r"\1 \2", text)
    out: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "word"
        if kind == "word" and _CJK.search(m.group()):
            # Chinese and Japanese set no spaces between words and recognisers return them a
            # character at a time: each ideograph or kana is its own token, on both sides.
            out.extend(("word", part) for part in _CJK_PARTS.findall(m.group()))
            continue
        out.append(("amount" if kind == "num" else "symbol" if kind == "sym" else "word", m.group()))
    return out


def _merge_amounts(items: list[Token]) -> list[Token]:
    """Glue a currency symbol before, and a % or currency symbol after, to its number."""
    out: list[Token] = []
    for tok in items:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.line == tok.line
            and tok.kind == "amount"
            and prev.kind == "symbol"
            and prev.norm in CURRENCY
        ):
            out[-1] = _joined(prev, tok)
            continue
        if (
            prev is not None
            and prev.line == tok.line
            and tok.kind == "symbol"
            and (tok.norm in "%‰" or tok.norm in CURRENCY)
            and prev.kind == "amount"
            and not any(ch in CURRENCY + "%‰" for ch in prev.norm[-1:])
            and not (tok.norm in CURRENCY and any(ch in CURRENCY for ch in prev.norm))
        ):
            out[-1] = _joined(prev, tok)
            continue
        out.append(tok)
    return out


def _joined(a: Token, b: Token) -> Token:
    sign = ""
    body = a.norm + b.norm
    # "$-5" and "-$5" are the same amount: the sign goes first.
    if body[:1] in CURRENCY and body[1:2] in "+-±" and body[1:2]:
        sign, body = body[1], body[0] + body[2:]
    box = a.box
    if a.box and b.box:
        box = (min(a.box[0], b.box[0]), min(a.box[1], b.box[1]), max(a.box[2], b.box[2]), max(a.box[3], b.box[3]))
    return Token(sign + body, a.raw + b.raw, "amount", min(a.conf, b.conf), a.line, box)


def tokens(text: str) -> list[Token]:
    """Tokens of an expected text (see the module docstring)."""
    items = [Token(raw.casefold(), raw, kind) for kind, raw in _scan(text)]
    return _merge_amounts(items)


def read_tokens(words: list[Any]) -> list[Token]:
    """Tokens of OCR words (objects with text, conf, line, box) in reading order."""
    vertical = vertical_lines(words)
    items = [
        Token(
            raw.casefold(), raw, kind, float(w.conf), int(w.line), tuple(w.box) if w.box else None, w.line in vertical
        )
        for w in words
        for kind, raw in _scan(w.text)
    ]
    return _merge_amounts(items)


def vertical_lines(words: list[Any]) -> set[int]:
    """Lines (of at least two characters) whose words' union box is 1.5 times taller than wide."""
    boxes: dict[int, list[int]] = {}
    chars: Counter = Counter()
    for w in words:
        if not w.box:
            continue
        chars[w.line] += len(w.text.strip())
        b = boxes.setdefault(w.line, list(w.box))
        b[:] = [min(b[0], w.box[0]), min(b[1], w.box[1]), max(b[2], w.box[2]), max(b[3], w.box[3])]
    return {line for line, b in boxes.items() if chars[line] >= 2 and b[3] - b[1] > 1.5 * max(1, b[2] - b[0])}


def normalise(text: str) -> list[str]:
    return [t.norm for t in tokens(text)]


def spacing_key(norms: list[str]) -> str:
    """The tokens joined without spaces, except that two digits never meet: "9 99" ≠ "999"."""
    out = ""
    for norm in norms:
        if out and out[-1].isdigit() and norm[:1].isdigit():
            out += "|"
        out += norm
    return out


def confusable(read: str, want: str) -> bool:
    """True when `read` turns into `want` by swapping confusable glyphs only (case kept)."""
    if read == want:
        return False
    for a, b in _CONFUSABLE_SEQS:
        read_alt = read.replace(a, b)
        if read_alt != read and (read_alt == want or _glyph_equal(read_alt, want)):
            return True
        want_alt = want.replace(a, b)
        if want_alt != want and (want_alt == read or _glyph_equal(read, want_alt)):
            return True
    return _glyph_equal(read, want)


def _glyph_equal(read: str, want: str) -> bool:
    if len(read) != len(want):
        return False
    for r, w in zip(read, want, strict=True):
        if r == w or (r.casefold() == w.casefold() and r.casefold() not in "ilo0"):
            continue
        if not any(r in group and w in group for group in _CONFUSABLE_CHARS):
            return False
    return True


def describe_amount(read: str, want: str) -> str:
    """Plain words for an amount that differs: which symbol went wrong."""
    strip = CURRENCY + "%‰+-±"
    r_digits, w_digits = read.strip(strip), want.strip(strip)
    parts = []
    r_cur = "".join(ch for ch in read if ch in CURRENCY)
    w_cur = "".join(ch for ch in want if ch in CURRENCY)
    if r_cur != w_cur:
        parts.append("currency")
    if ("%" in read) != ("%" in want):
        parts.append("percent sign")
    if (read[:1] in "+-±") != (want[:1] in "+-±") or (read[:1] in "+-±" and read[:1] != want[:1]):
        parts.append("sign")
    if r_digits != w_digits:
        if re.sub(r"[.,]", "", r_digits) == re.sub(r"[.,]", "", w_digits):
            parts.append("decimal point")
        else:
            parts.append("digits")
    noun = "price" if r_cur or w_cur else "percentage" if "%" in read + want else "number"
    return f"{noun} reads {read}, expected {want}" + (f" ({', '.join(parts)})" if parts else "")


def separator_only(read: str, want: str) -> bool:
    """True when two amounts differ only by "." and "," swapped at the same places ("9,99" and
    "9.99", "1.000" and "1,000"): notation, or a different amount, but no wrong digit."""
    return (
        read != want
        and len(read) == len(want)
        and all(r == w or (r in ".," and w in ".,") for r, w in zip(read, want, strict=True))
        and any(ch.isdigit() for ch in want)
    )


@dataclass
class SlotResult:
    status: str
    detail: str
    evidence: dict[str, object] = field(default_factory=dict)
    other_text: list[Token] = field(default_factory=list)


def _related(tok: Token, wanted: list[Token]) -> bool:
    for want in wanted:
        if tok.norm == want.norm or fold(tok.norm) == fold(want.norm):
            return True
        if tok.is_number and want.is_number:
            return True
        # Words the recogniser joined or split: "FESTIVALJOURNAL", "LETTE" + "RS".
        if min(len(tok.norm), len(want.norm)) >= 3 and (tok.norm in want.norm or want.norm in tok.norm):
            return True
        bound = max(1, len(want.norm) // 2)
        if (
            not tok.is_number
            and not want.is_number
            and len(tok.norm) >= 2
            # The distance is at least the difference in length: skip the quadratic part.
            and abs(len(tok.norm) - len(want.norm)) <= bound
            and levenshtein(tok.norm, want.norm) <= bound
        ):
            return True
    return False


def _pairs(missing: list[Token], extra: list[Token]) -> list[tuple[Token, Token]]:
    """Pair each missing token with the closest unexpected one when they look alike."""
    pairs: list[tuple[Token, Token]] = []
    pool = list(extra)
    for want in missing:
        if want.is_number:
            options = [t for t in pool if t.is_number]
            best = min(options, key=lambda t: levenshtein(want.norm, t.norm), default=None)
        else:
            options = [t for t in pool if not t.is_number or confusable(t.raw, want.raw)]
            best = min(options, key=lambda t: levenshtein(want.norm, t.norm), default=None)
            if best is not None and levenshtein(want.norm, best.norm) > max(1, len(want.norm) // 2):
                best = None
        if best is not None:
            pairs.append((want, best))
            pool.remove(best)
    return pairs


def _bag_minus(have: list[Token], take: list[str]) -> list[Token]:
    left = Counter(take)
    out = []
    for tok in have:
        if left[tok.norm] > 0:
            left[tok.norm] -= 1
        else:
            out.append(tok)
    return out


def _tall(tok: Token) -> bool:
    return tok.vertical


def compare_slot(expected: str, read: list[Token], limits: dict[str, Any], *, split_other: bool = True) -> SlotResult:
    """Compare one slot's expected text with its read tokens (in reading order)."""
    wanted = tokens(expected)
    want_norms = [t.norm for t in wanted]
    # Lines sharing nothing with the expected text are other text, a separate check.
    other: list[Token] = []
    if split_other and wanted:
        lines: dict[int, list[Token]] = {}
        for tok in read:
            lines.setdefault(tok.line, []).append(tok)
        keep = []
        for line in lines.values():
            if sum(_related(t, wanted) for t in line) * 2 >= len(line):
                keep.extend(line)
            else:
                other.extend(line)
        read = [t for t in read if t in keep]
    got_norms = [t.norm for t in read]
    confidences = [t.conf for t in read]
    want, got = Counter(want_norms), Counter(got_norms)
    missing_norms = sorted((want - got).elements())
    extra_norms = sorted((got - want).elements())
    joined_want, joined_got = " ".join(want_norms), " ".join(got_norms)
    distance = levenshtein(joined_want, joined_got)
    evidence: dict[str, object] = {
        "expected": expected,
        "read": " ".join(t.raw for t in read),
        "missing": missing_norms,
        "extra": extra_norms,
        "misspelled": [],
        "edit_distance": distance,
        "cer": round(distance / max(1, len(joined_want)), 4),
        "min_confidence": round(min(confidences), 4) if confidences else None,
    }
    done = lambda status, detail: SlotResult(status, detail, evidence, other)  # noqa: E731

    if not missing_norms and not extra_norms:
        if want_norms != got_norms and any(t.vertical for t in read) and _lines_in_some_order(read, want_norms):
            # Lines set vertically have no reliable reading order across lines (turned either way).
            evidence["vertical_lines"] = True
            return done(PASS, "Text matches (vertical lines).")
        if want_norms != got_norms and limits["word_order"] != "ignore":
            evidence["order"] = {"expected": want_norms, "read": got_norms}
            return done(FAIL if limits["word_order"] == "fail" else REVIEW, "The right words in the wrong order.")
        if confidences and min(confidences) < limits["low_confidence"]:
            return done(REVIEW, f"Text matches but recognition is unsure ({min(confidences):.2f}).")
        return done(PASS, "Text matches.")
    copies = _copies(want, got, want_norms, got_norms)
    if copies >= 2:
        evidence["repeated"] = copies
        return done(PASS, f"Text matches (printed {copies} times).")
    if spacing_key(want_norms) == spacing_key(got_norms) and limits["spacing"] != "fail":
        evidence["spacing"] = True
        status = PASS if limits["spacing"] == "pass" else REVIEW
        return done(status, "Text matches (word spacing read differently).")
    if not read:
        evidence["unreadable"] = True
        return done(REVIEW, "Could not read this text.")

    # Lenient reading: diacritics folded, tokens sharing no character with the text dropped.
    letters = set("".join(fold(t) for t in want_norms))
    lenient = [t for t in read if set(fold(t.norm)) & letters or t.kind != "word"]
    lenient_norms = [fold(t.norm) for t in lenient]
    folded_want = [fold(t) for t in want_norms]
    if Counter(folded_want) == Counter(lenient_norms) or spacing_key(folded_want) == spacing_key(lenient_norms):
        evidence["folded"] = True
        evidence["ornaments"] = [t.norm for t in read if t not in lenient]
        return done(REVIEW, "Text matches only after folding accents and dropping ornaments.")

    missing = _bag_minus(wanted, got_norms)
    extra = _bag_minus(read, want_norms)
    good = limits["fail_min_conf"]
    fails: list[str] = []
    reviews: list[str] = []
    second: list[dict[str, object]] = []
    misspelled: list[dict[str, object]] = []
    symbols: list[dict[str, object]] = []
    pairs = _pairs(missing, extra)
    for want_tok, got_tok in pairs:
        entry: dict[str, object] = {
            "expected": want_tok.norm,
            "read": got_tok.norm,
            "distance": levenshtein(want_tok.norm, got_tok.norm),
            "confidence": round(got_tok.conf, 4),
        }
        if want_tok.is_number or got_tok.is_number:
            entry["detail"] = describe_amount(got_tok.raw, want_tok.raw)
            symbols.append(entry)
        else:
            misspelled.append(entry)
        if confusable(got_tok.raw, want_tok.raw) or confusable(got_tok.norm, want_tok.norm):
            entry["why"] = "confusable"
            second.append({**entry, "box": list(got_tok.box) if got_tok.box else None, "raw": got_tok.raw})
        elif fold(got_tok.norm) == fold(want_tok.norm):
            entry["why"] = "accents"
            reviews.append(f"accents read differently: {want_tok.raw} → {got_tok.raw}")
        elif got_tok.conf < good:
            entry["why"] = "unsure"
            second.append({**entry, "box": list(got_tok.box) if got_tok.box else None, "raw": got_tok.raw})
        elif _tall(got_tok) or (got_tok.kind == "word" and len(got_tok.norm) < 2):
            entry["why"] = "vertical" if _tall(got_tok) else "fragment"
            how = " (set vertically)" if _tall(got_tok) else ""
            reviews.append(f"could not read this text{how}: read {got_tok.raw} for {want_tok.raw}")
        else:
            entry["why"] = "confident"
            fails.append(str(entry.get("detail") or f"misspelled {want_tok.norm} → {got_tok.norm}"))
    paired_want = {id(w) for w, _ in pairs}
    paired_got = {id(g) for _, g in pairs}
    lone_missing = [t for t in missing if id(t) not in paired_want]
    lone_extra = [t for t in extra if id(t) not in paired_got]
    found = len(wanted) - len(missing)
    read_well = bool(read) and min(t.conf for t in read) >= good and not any(_tall(t) for t in read)
    if lone_missing:
        names = ", ".join(t.norm for t in lone_missing)
        if read_well and found * 2 >= len(wanted):
            fails.append(f"missing {names}")
        else:
            evidence["unreadable"] = True
            reviews.append(f"could not read this text: {names} not found")
    noise = [t for t in lone_extra if t.kind == "word" and len(t.norm) < 2 and t.conf < good]
    for tok in lone_extra:
        if tok in noise:
            continue
        if tok.conf >= good and not _tall(tok):
            fails.append(f"unexpected {tok.raw}")
        else:
            reviews.append(f"unsure extra text {tok.raw} ({tok.conf:.2f})")
    evidence["misspelled"] = misspelled
    if symbols:
        evidence["symbols"] = symbols
    if second:
        evidence["second_opinion"] = second
    evidence["fail_reasons"] = fails
    evidence["review_reasons"] = reviews
    return _settle(evidence, other)


def _settle(evidence: dict[str, object], other: list[Token]) -> SlotResult:
    fails = list(evidence.get("fail_reasons") or [])  # type: ignore[call-overload]
    reviews = list(evidence.get("review_reasons") or [])  # type: ignore[call-overload]
    pending = [s for s in evidence.get("second_opinion") or [] if s.get("verdict") is None]  # type: ignore[attr-defined]
    if pending:
        reviews.append("confusable or unsure letters await a second opinion")
    if fails:
        return SlotResult(FAIL, "; ".join(fails + reviews), evidence, other)
    if reviews:
        return SlotResult(REVIEW, "; ".join(reviews), evidence, other)
    if evidence.get("second_opinion"):
        return SlotResult(
            PASS, "Text matches (a second opinion read the look-alike letters as expected).", evidence, other
        )
    return SlotResult(PASS, "Text matches (stray marks ignored).", evidence, other)


def _lines_in_some_order(read: list[Token], want_norms: list[str]) -> bool:
    from itertools import permutations

    lines: dict[int, list[str]] = {}
    for tok in read:
        lines.setdefault(tok.line, []).append(tok.norm)
    if len(lines) > 5:
        return False
    return any([t for line in order for t in line] == want_norms for order in permutations(lines.values()))


def _copies(want: Counter, got: Counter, want_norms: list[str], got_norms: list[str]) -> int:
    if not want or not got:
        return 0
    key, got_key = spacing_key(want_norms), spacing_key(got_norms)
    if key and len(got_key) >= 2 * len(key) and len(got_key) % len(key) == 0:
        k = len(got_key) // len(key)
        if got_key == key * k:
            return k
    k = min(got[t] // n for t, n in want.items())
    if k >= 2 and all(got[t] == k * want[t] for t in got):
        return k
    return 0


def resolve_second_opinions(
    result: SlotResult, reads: list[list[tuple[str, list[str]]]], *, first_engine: str = "rapidocr"
) -> SlotResult:
    """Decide each pending item from its second reads: ``reads[i]`` is a list of (engine, tokens).

    A second read with the expected token → the first read was a look-alike: resolved. The other
    engine reading the same as the first → confirmed misspelling: FAIL. Otherwise the readers
    disagree: REVIEW.
    """
    evidence = result.evidence
    items = evidence.get("second_opinion") or []
    fails = list(evidence.get("fail_reasons") or [])  # type: ignore[call-overload]
    reviews = list(evidence.get("review_reasons") or [])  # type: ignore[call-overload]
    for item, item_reads in zip(items, reads, strict=False):  # type: ignore[call-overload]
        item["reads"] = [{"engine": engine, "text": " ".join(toks)} for engine, toks in item_reads]
        want, first = item["expected"], item["read"]
        if any(want in toks for _, toks in item_reads):
            item["verdict"] = PASS
        elif any(engine != first_engine and first in toks for engine, toks in item_reads):
            if separator_only(str(first), str(want)):
                # "9,99 €" for "9.99 €": the same digits in the other notation, or in "1,000" vs
                # "1.000" another amount; only a person can tell which the reader meant.
                item["verdict"] = REVIEW
                reviews.append(f"decimal separator reads {first}, expected {want} (second opinion agrees)")
                continue
            item["verdict"] = FAIL
            fails.append(f"misspelled {want} → {first} (second opinion agrees)")
        else:
            item["verdict"] = REVIEW
            seen = "; ".join(f"{r['engine']} read “{r['text']}”" for r in item["reads"]) or "nothing read"
            reviews.append(f"second opinion disagrees on {want} (first read {first}; {seen})")
    evidence["fail_reasons"] = fails
    evidence["review_reasons"] = reviews
    return _settle(evidence, result.other_text)
