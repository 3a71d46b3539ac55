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
def usd(value: object) -> str:
    if value is None or value == "":
        return "–"
    return f"${float(value):,.4f}".rstrip("0").rstrip(".") if float(value) < 1 else f"${float(value):,.2f}"


@register.filter
def get_item(mapping: dict, key: str) -> object:
    return mapping.get(key) if mapping else None
