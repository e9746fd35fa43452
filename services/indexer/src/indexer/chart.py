"""A line chart of index levels as a self-contained SVG document, drawn without a plotting
library: one polyline per series, labelled axes with rounded ticks, a title and a legend."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape, quoteattr

__all__ = ["ChartSeries", "nice_ticks", "rebased", "render_svg"]

# Colour-blind safe pair first (Okabe & Ito, "Color Universal Design").
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
WIDTH, HEIGHT = 960, 520
LEFT, RIGHT, TOP, BOTTOM = 80, 30, 56, 70


@dataclass(frozen=True)
class ChartSeries:
    name: str
    dates: Sequence[date]
    values: Sequence[float]


def rebased(series: ChartSeries, start: date, base: float = 100.0) -> ChartSeries:
    """The series from `start` on, scaled so its value on `start` is `base`."""
    kept = [(d, v) for d, v in zip(series.dates, series.values, strict=True) if d >= start]
    if not kept or kept[0][0] != start:
        raise ValueError(f"{series.name} has no value on {start}")
    first = kept[0][1]
    return ChartSeries(series.name, [d for d, _ in kept], [base * v / first for _, v in kept])


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round tick values (1, 2 or 5 x 10^k apart) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = []
    k = 0
    while first + k * step <= high + step * 1e-9:
        ticks.append(round(first + k * step, 12))
        k += 1
    if ticks[-1] < high:
        ticks.append(round(first + k * step, 12))
    return ticks


def _label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.4g}"


def render_svg(series: Sequence[ChartSeries], *, title: str, y_label: str) -> str:
    """An SVG document (image/svg+xml) plotting every series against calendar time."""
    drawn = [s for s in series if len(s.values) > 0]
    if not drawn:
        raise ValueError("nothing to draw: every series is empty")
    first_day = min(s.dates[0] for s in drawn).toordinal()
    last_day = max(s.dates[-1] for s in drawn).toordinal()
    span_days = max(last_day - first_day, 1)
    ticks = nice_ticks(min(min(s.values) for s in drawn), max(max(s.values) for s in drawn))
    y_low, y_high = ticks[0], ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(day: date) -> float:
        return LEFT + plot_w * (day.toordinal() - first_day) / span_days

    def y_of(value: float) -> float:
        return TOP + plot_h * (1.0 - (value - y_low) / (y_high - y_low))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text class="title" x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="16">'
        f"{escape(title)}</text>",
    ]
    for value in ticks:
        y = y_of(value)
        out.append(
            f'<line class="grid" x1="{LEFT}" y1="{y:.2f}" x2="{LEFT + plot_w}" y2="{y:.2f}" '
            'stroke="#e5e5e5"/>'
            f'<text class="y-tick" x="{LEFT - 8}" y="{y + 4:.2f}" text-anchor="end">'
            f"{_label(value)}</text>"
        )
    n_x = min(6, span_days + 1)
    for k in range(n_x):
        day = date.fromordinal(first_day + round(k * span_days / max(n_x - 1, 1)))
        x = x_of(day)
        out.append(
            f'<line x1="{x:.2f}" y1="{TOP + plot_h}" x2="{x:.2f}" y2="{TOP + plot_h + 5}" '
            'stroke="#333"/>'
            f'<text class="x-tick" x="{x:.2f}" y="{TOP + plot_h + 20}" text-anchor="middle">'
            f"{day.isoformat()}</text>"
        )
    out.append(
        f'<path class="axes" d="M{LEFT},{TOP} V{TOP + plot_h} H{LEFT + plot_w}" '
        'fill="none" stroke="#333"/>'
        f'<text class="x-label" x="{LEFT + plot_w / 2}" y="{HEIGHT - 18}" '
        'text-anchor="middle">date</text>'
        f'<text class="y-label" x="18" y="{TOP + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 18 {TOP + plot_h / 2})">{escape(y_label)}</text>'
    )
    for k, s in enumerate(drawn):
        colour = PALETTE[k % len(PALETTE)]
        points = " ".join(
            f"{x_of(d):.2f},{y_of(v):.2f}" for d, v in zip(s.dates, s.values, strict=True)
        )
        out.append(
            f'<polyline data-series={quoteattr(s.name)} fill="none" stroke="{colour}" '
            f'stroke-width="1.5" points="{points}"/>'
        )
        ly = TOP + 8 + 18 * k
        out.append(
            f'<line x1="{LEFT + 12}" y1="{ly}" x2="{LEFT + 36}" y2="{ly}" stroke="{colour}" '
            'stroke-width="3"/>'
            f'<text class="legend" x="{LEFT + 42}" y="{ly + 4}">{escape(s.name)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)
