"""Charts drawn on the server as SVG: no script, no library, readable without colour.

Every label is escaped here (it may come from log data), and the result is returned as
``Markup`` so the template inserts it as it is. Colours come from CSS classes, never inline
styles, so the Content-Security-Policy needs no ``unsafe-inline``. Each bar carries a
``<title>`` (the browser's tooltip) and each chart an ``aria-label`` and a table fallback is
left to the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

from tocsin.web.render import format_number


@dataclass(frozen=True, slots=True)
class Series:
    """One named series of values, one per bucket; ``css`` picks its colour class."""

    name: str
    values: Sequence[float]
    css: str = "series-0"


def _nice_max(value: float) -> float:
    """The smallest 1/2/5 x 10^n at or above ``value`` (an axis top that reads well)."""
    if value <= 0:
        return 1.0
    power = 1.0
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    label: str,
    links: Sequence[str | None] | None = None,
    css: Sequence[str] | None = None,
    width: int = 520,
    row_height: int = 22,
    label_width: int = 220,
) -> Markup:
    """Horizontal bars, one per ``(name, value)``, with the value printed at the bar's end."""
    if not items:
        return Markup('<p class="chart-empty">No data in this period.</p>')  # noqa: S704
    top = max(v for _n, v in items) or 1.0
    plot = width - label_width - 60
    height = row_height * len(items) + 4
    parts = [
        f'<svg class="chart bar-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMinYMin meet">'
    ]
    for index, (name, value) in enumerate(items):
        y = index * row_height + 2
        bar = max(1.0, plot * value / top) if value else 0.0
        short = name if len(name) <= 34 else name[:33] + "\u2026"
        klass = css[index] if css else "series-0"
        text = (
            f'<text class="chart-label" x="{label_width - 6}" y="{y + row_height * 0.7:.1f}" '
            f'text-anchor="end">{escape(short)}</text>'
        )
        link = links[index] if links else None
        if link:
            text = f'<a href="{escape(link)}">{text}</a>'
        parts.append(
            f"<g><title>{escape(name)}: {format_number(value)}</title>{text}"
            f'<rect class="bar {escape(klass)}" x="{label_width}" y="{y + 3}" '
            f'width="{bar:.1f}" height="{row_height - 6}"></rect>'
            f'<text class="chart-value" x="{label_width + bar + 4:.1f}" '
            f'y="{y + row_height * 0.7:.1f}">{format_number(value)}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped


def time_chart(
    starts: Sequence[datetime],
    series: Sequence[Series],
    *,
    label: str,
    width: int = 760,
    height: int = 180,
    time_format: str = "%H:%M",
) -> Markup:
    """Stacked vertical bars over time buckets, with a y axis, x labels and a legend."""
    if not starts or not series:
        return Markup('<p class="chart-empty">No data in this period.</p>')  # noqa: S704
    totals = [sum(s.values[i] for s in series) for i in range(len(starts))]
    top = _nice_max(max(totals))
    left, bottom, top_pad = 44, 22, 8
    plot_w, plot_h = width - left - 6, height - bottom - top_pad
    step = plot_w / len(starts)
    gap = min(2.0, step * 0.2)
    parts = [
        f'<svg class="chart time-chart" viewBox="0 0 {width} {height + 18}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMinYMin meet">'
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = top_pad + plot_h * (1 - fraction)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - 6}" y1="{y:.1f}" y2="{y:.1f}"></line>'
            f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{format_number(round(top * fraction, 2))}</text>"
        )
    for index, start in enumerate(starts):
        x = left + index * step
        base: float = top_pad + plot_h
        tip = [f"{start.strftime('%Y-%m-%d %H:%M')}"]
        bars = []
        for s in series:
            value = s.values[index]
            if not value:
                continue
            h = plot_h * value / top
            base -= h
            tip.append(f"{s.name}: {format_number(value)}")
            bars.append(
                f'<rect class="bar {escape(s.css)}" x="{x + gap / 2:.1f}" y="{base:.1f}" '
                f'width="{max(step - gap, 1):.1f}" height="{h:.1f}"></rect>'
            )
        parts.append(f"<g><title>{escape(', '.join(tip))}</title>{''.join(bars)}</g>")
    every = max(1, len(starts) // 8)
    for index in range(0, len(starts), every):
        x = left + index * step
        parts.append(
            f'<text class="axis" x="{x:.1f}" y="{height - 6}">'
            f"{escape(starts[index].strftime(time_format))}</text>"
        )
    legend_x = float(left)
    for s in series:
        parts.append(
            f'<rect class="bar {escape(s.css)}" x="{legend_x:.0f}" y="{height + 6}" width="10" '
            f'height="10"></rect><text class="legend" x="{legend_x + 14:.0f}" '
            f'y="{height + 15}">{escape(s.name)}</text>'
        )
        legend_x += 14 + 8 * len(s.name) + 18
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped
