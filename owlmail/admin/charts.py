"""Server-side SVG geometry for the dashboard chart (no JavaScript chart library)."""

from dataclasses import dataclass

from ..timeutil import berlin
from .services import GrowthPoint

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    new: int
    total: int


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar]
    line: str  # polyline points of the running total
    ticks: list[tuple[float, int]]  # (y, value) for the left axis
    baseline: float


def _nice_max(value: int) -> int:
    """A round upper end for the axis (1, 2, 5 × 10^n)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if value <= step * factor:
                return step * factor
        step *= 10


def growth_chart(points: list[GrowthPoint], label: str = "%d.%m.") -> Chart:
    """Bars for what is new per period, a line for the total, on one scale each."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_h
    top_total = _nice_max(max((p.total for p in points), default=0) or 1)
    top_new = max((p.new for p in points), default=0) or 1
    slot = plot_w / max(len(points), 1)
    bars, line = [], []
    for index, point in enumerate(points):
        x = LEFT + index * slot
        height = point.new / top_new * plot_h * 0.5  # bars use the lower half
        bars.append(Bar(round(x + slot * 0.2, 1), round(baseline - height, 1),
                        round(slot * 0.6, 1), round(height, 1),
                        berlin(point.start).strftime(label), point.new, point.total))
        y = baseline - point.total / top_total * plot_h
        line.append(f"{x + slot / 2:.1f},{y:.1f}")
    steps = next(n for n in (4, 5, 2, 1) if top_total % n == 0)
    ticks = [(round(baseline - plot_h * i / steps, 1), top_total * i // steps)
             for i in range(steps + 1)]
    return Chart(WIDTH, HEIGHT, bars, " ".join(line), ticks, baseline)
