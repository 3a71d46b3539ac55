from datetime import datetime

from django import template

register = template.Library()


@register.filter
def ms(value: float | int | None) -> str:
    """Milliseconds for people: 850 ms, 1.42 s."""
    if value is None or value == "":
        return "–"
    value = float(value)
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.2f} s"


@register.filter
def epoch_ms(value: datetime | None) -> int | str:
    """A moment as milliseconds since the Unix epoch (for scripts that count from it)."""
    if value is None:
        return ""
    return round(value.timestamp() * 1000)


@register.filter
def usd(value: object) -> str:
    if value is None or value == "":
        return "–"
    if float(value) >= 1:
        return f"${float(value):,.2f}"
    # Sub-dollar prices keep up to four decimals (engines cost $0.0425), but always the cents:
    # "$0.1" next to "$0.10" on the same page read as two different amounts.
    text = f"{float(value):.4f}".rstrip("0")
    return "$" + (text + "0" * (2 - len(text.split(".")[1])))


@register.filter
def get_item(mapping: dict, key: str) -> object:
    return mapping.get(key) if mapping else None


@register.filter
def age(seconds: float | int | None) -> str:
    """Seconds for people: 4 s, 2 min 5 s, 3 h 10 min."""
    if seconds is None or seconds == "":
        return "–"
    s = int(float(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


@register.filter
def sub(value: float | int, other: float | int) -> float:
    """value − other (for "over budget by …")."""
    return float(value) - float(other)


@register.filter
def pct(value: float | None) -> str:
    """A 0–1 ratio as a whole percentage: 0.625 → "63 %"; None → "–"."""
    return "–" if value is None or value == "" else f"{float(value) * 100:.0f} %"


@register.filter
def pts(value: float | None) -> str:
    """A difference of two 0–1 ratios in percentage points, signed: 0.25 → "+25 pts"."""
    return "–" if value is None or value == "" else f"{float(value) * 100:+.0f} pts"


@register.filter
def signed(value: object, digits: int = 2) -> str:
    """A signed number: 0.5 → "+0.50"; None → "–"."""
    return "–" if value is None or value == "" else f"{float(value):+.{int(digits)}f}"  # type: ignore[arg-type]
