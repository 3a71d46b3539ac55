"""Server-side SVG geometry for the metrics charts: no JavaScript, no inline styles (the
page's CSP forbids both); the template draws the shapes with presentation attributes."""

from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 640, 180, 28


@dataclass(frozen=True)
class Line:
    label: str
    css: str  # class name, coloured by app.css
    points: str  # "x,y x,y …" for <polyline points=…>; gaps (None) break nothing, they are skipped
    dots: list[tuple[float, float]]  # the same points, marked (a lone point draws no line)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    lines: list[Line]
    bars: list[Bar]
    y_max: float
    y_label: str
    x_labels: list[tuple[float, str]]  # (x, text)
    threshold_y: float | None  # a budget line, in SVG coordinates


def _scale(value: float, y_max: float) -> float:
    return round(HEIGHT - PAD - (value / y_max) * (HEIGHT - 2 * PAD), 1) if y_max else HEIGHT - PAD


def _x(index: int, count: int) -> float:
    return round(PAD + index * (WIDTH - 2 * PAD) / max(1, count - 1), 1)


def line_chart(
    *,
    series: list[tuple[str, str, list[float | None]]],
    labels: list[str],
    y_label: str,
    threshold: float | None = None,
) -> Chart:
    """Polylines for `series` [(label, css class, values per x)], x labelled by `labels`
    (every few shown), y from 0 to the largest value or `threshold`, whichever is larger."""
    values = [v for _, _, vs in series for v in vs if v is not None]
    y_max = max([*values, threshold or 0, 1.0])
    count = len(labels)
    lines = []
    for label, css, vs in series:
        dots = [(_x(i, count), _scale(v, y_max)) for i, v in enumerate(vs) if v is not None]
        lines.append(Line(label, css, " ".join(f"{x},{y}" for x, y in dots), dots))
    step = max(1, count // 6)
    x_labels = [(_x(i, count), text) for i, text in enumerate(labels) if i % step == 0]
    threshold_y = _scale(threshold, y_max) if threshold else None
    return Chart(WIDTH, HEIGHT, lines, [], y_max, y_label, x_labels, threshold_y)


def bar_chart(*, values: list[float], labels: list[str], y_label: str, titles: list[str]) -> Chart:
    """Bars for `values` per x, with `titles` as each bar's tooltip."""
    y_max = max([*values, 1e-9])
    count = len(values)
    slot = (WIDTH - 2 * PAD) / max(1, count)
    bars = [
        Bar(
            round(PAD + i * slot + slot * 0.1, 1),
            _scale(v, y_max),
            round(slot * 0.8, 1),
            round(HEIGHT - PAD - _scale(v, y_max), 1),
            title,
        )
        for i, (v, title) in enumerate(zip(values, titles, strict=True))
    ]
    step = max(1, count // 6)
    x_labels = [(round(PAD + i * slot + slot / 2, 1), text) for i, text in enumerate(labels) if i % step == 0]
    return Chart(WIDTH, HEIGHT, [], bars, y_max, y_label, x_labels, None)
