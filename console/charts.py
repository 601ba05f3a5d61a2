"""Charts as plain SVG drawn on the server: geometry here, markup in ``templates/console/charts.html``.

No script and no outside host: the numbers become rectangles and a polyline
with integer coordinates, and every chart has a table of the same figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 36


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value`` (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


@dataclass
class Chart:
    title: str
    description: str
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[dict] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)
    ticks: list[dict] = field(default_factory=list)
    labels: list[dict] = field(default_factory=list)
    baseline: int = 0


def _frame(
    chart: Chart,
    top_value: int,
    bottom_value: int,
    months: Sequence[str],
    fmt: Callable[[int], str] = "{:,}".format,
) -> tuple:
    top = nice_ceiling(max(top_value, 1))
    bottom = -nice_ceiling(-bottom_value) if bottom_value < 0 else 0
    plot_h = chart.height - TOP - BOTTOM

    def y(value: int) -> int:
        return TOP + (top - value) * plot_h // (top - bottom)

    for step in range(5):
        value = bottom + (top - bottom) * step // 4
        chart.ticks.append({"y": y(value), "label": fmt(value)})
    chart.baseline = y(0)
    slot = (chart.width - LEFT - RIGHT) // max(len(months), 1)
    every = max(1, len(months) // 12)
    for n, month in enumerate(months):
        if n % every == 0:
            chart.labels.append({"x": LEFT + n * slot + slot // 2, "text": month})
    return y, slot


def bars(title: str, description: str, months: Sequence[str], series: Sequence[tuple[str, Sequence[int]]]) -> Chart:
    """Grouped bars: one group per month, one bar per series (``(css class, values)``)."""
    chart = Chart(title, description)
    values = [v for _name, data in series for v in data]
    y, slot = _frame(chart, max(values, default=0), min(values, default=0), months)
    width = max((slot - 4) // max(len(series), 1), 1)
    for n, _month in enumerate(months):
        for k, (name, data) in enumerate(series):
            value = data[n]
            top, bottom = sorted((y(value), y(0)))
            chart.bars.append(
                {
                    "x": LEFT + n * slot + 2 + k * width,
                    "y": top,
                    "w": width,
                    "h": max(bottom - top, 0),
                    "cls": name,
                    "label": f"{months[n]}: {value:,}",
                }
            )
    return chart


def line(title: str, description: str, months: Sequence[str], series: Sequence[tuple[str, Sequence[int]]]) -> Chart:
    """Lines over months: one polyline per series (``(css class, values)``)."""
    chart = Chart(title, description)
    values = [v for _name, data in series for v in data]
    y, slot = _frame(chart, max(values, default=0), min(values, default=0), months)
    for name, data in series:
        dots = [
            {"x": LEFT + n * slot + slot // 2, "y": y(value), "label": f"{months[n]}: {value:,}"}
            for n, value in enumerate(data)
        ]
        points = " ".join(f"{dot['x']},{dot['y']}" for dot in dots)
        chart.lines.append({"cls": name, "points": points, "dots": dots})
    return chart


HEAT_LEVELS = 10


def heat_level(share: float | None) -> int | None:
    """The shade (0..10) of a heatmap cell for a share between 0 and 1 (None: no cell); CSS ``.heat-N`` paints it."""
    if share is None:
        return None
    return max(0, min(HEAT_LEVELS, round(share * HEAT_LEVELS)))


def intervals(
    title: str,
    description: str,
    labels: Sequence[str],
    estimates: Sequence[int],
    lows: Sequence[int],
    highs: Sequence[int],
    fmt: Callable[[int], str] = "{:,}".format,
) -> Chart:
    """An estimate and its confidence interval per label: a vertical segment and a dot, the zero line drawn.

    Values are integers in the chart's unit (``fmt`` writes them: basis points as percentage points...).
    """
    chart = Chart(title, description)
    top = max([*highs, *estimates, 0])
    bottom = min([*lows, *estimates, 0])
    y, slot = _frame(chart, top, bottom, labels, fmt)
    for n, label in enumerate(labels):
        x = LEFT + n * slot + slot // 2
        dot = {
            "x": x,
            "y": y(estimates[n]),
            "label": f"{label}: {fmt(estimates[n])} ({fmt(lows[n])} to {fmt(highs[n])})",
        }
        chart.lines.append({"cls": "interval", "points": f"{x},{y(lows[n])} {x},{y(highs[n])}", "dots": [dot]})
    return chart
