"""Charts drawn on the server as SVG: no script, no library, readable without colour.

Every label is escaped here (it may come from log data), and the result is returned as
``Markup`` so the template inserts it as it is. Colours come from CSS classes, never inline
styles, so the Content-Security-Policy needs no ``unsafe-inline``. Each bar carries a
``<title>`` (the browser's tooltip) and each chart an ``aria-label`` and a table fallback is
left to the page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def _y_axis(
    left: float,
    width: float,
    top_pad: float,
    plot_h: float,
    top: float,
    value_format: Callable[[float], str],
) -> str:
    """Three grid lines (0, half, top) with their values, for the vertical charts."""
    lines = []
    for fraction in (0.0, 0.5, 1.0):
        y = top_pad + plot_h * (1 - fraction)
        lines.append(
            f'<line class="grid" x1="{left}" x2="{width - 6}" y1="{y:.1f}" y2="{y:.1f}"></line>'
            f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(value_format(top * fraction))}</text>"
        )
    return "".join(lines)


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    label: str,
    links: Sequence[str | None] | None = None,
    css: Sequence[str] | None = None,
    width: int = 520,
    row_height: int = 22,
    label_width: int = 250,
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
        short = name if len(name) <= 36 else name[:35] + "\u2026"
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
    parts.append(_y_axis(left, width, top_pad, plot_h, top, lambda v: format_number(round(v, 2))))
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
        # a label near the right edge ends at its bar instead of running off the chart
        anchor = "end" if x > width - 60 else "start"
        parts.append(
            f'<text class="axis" x="{x:.1f}" y="{height - 6}" text-anchor="{anchor}">'
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


# -- charts of measured values (durations, rates), where a group may have no value ------------
@dataclass(frozen=True, slots=True)
class Measures:
    """One named series of values, one per group; None where the group has nothing measured."""

    name: str
    values: Sequence[float | None]
    css: str = "series-0"


_DURATION_STEPS = (
    1,
    5,
    10,
    30,
    60,
    5 * 60,
    10 * 60,
    15 * 60,
    30 * 60,
    3600,
    2 * 3600,
    4 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    7 * 86400,
    14 * 86400,
    30 * 86400,
)


def nice_duration_max(seconds: float) -> float:
    """The smallest round duration (1 s, 5 s, ... 1 h, 2 h, ... 30 d) at or above ``seconds``."""
    for step in _DURATION_STEPS:
        if step >= seconds:
            return float(step)
    return _nice_max(seconds / 86400) * 86400


def _legend(series: Sequence[Measures], x: float, y: float) -> list[str]:
    parts = []
    for s in series:
        parts.append(
            f'<rect class="bar {escape(s.css)}" x="{x:.0f}" y="{y:.0f}" width="10" '
            f'height="10"></rect><text class="legend" x="{x + 14:.0f}" '
            f'y="{y + 9:.0f}">{escape(s.name)}</text>'
        )
        x += 14 + 7 * len(s.name) + 18
    return parts


def grouped_bar_chart(
    groups: Sequence[str],
    series: Sequence[Measures],
    *,
    label: str,
    value_format: Callable[[float], str] = format_number,
    maximum: float | None = None,
    width: int = 560,
    bar_height: int = 14,
    label_width: int = 170,
) -> Markup:
    """Horizontal bars grouped by name, one per series, each with its value; a legend below.

    A missing value (None) draws no bar and prints a dash, so "nothing measured" never looks
    like zero. ``maximum`` fixes the scale (100 for percentages); else the largest value.
    """
    measured = [v for s in series for v in s.values if v is not None]
    if not groups or not series or not measured:
        return Markup('<p class="chart-empty">No data in this period.</p>')  # noqa: S704
    top = maximum if maximum else (max(measured) or 1.0)
    plot = width - label_width - 90
    group_height = bar_height * len(series) + 10
    height = group_height * len(groups) + 24
    parts = [
        f'<svg class="chart grouped-bar-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMinYMin meet">'
    ]
    for index, name in enumerate(groups):
        y0 = index * group_height + 4
        short = name if len(name) <= 26 else name[:25] + "\u2026"
        middle = y0 + bar_height * len(series) / 2 + 4
        tips = []
        bars = []
        for offset, s in enumerate(series):
            value = s.values[index] if index < len(s.values) else None
            y = y0 + offset * bar_height
            text = value_format(value) if value is not None else "\u2013"
            tips.append(f"{s.name}: {text}")
            bar = max(1.0, plot * min(value, top) / top) if value else 0.0
            if value is not None:
                bars.append(
                    f'<rect class="bar {escape(s.css)}" x="{label_width}" y="{y + 1}" '
                    f'width="{bar:.1f}" height="{bar_height - 2}"></rect>'
                )
            bars.append(
                f'<text class="chart-value" x="{label_width + bar + 4:.1f}" '
                f'y="{y + bar_height - 3}">{escape(text)}</text>'
            )
        parts.append(
            f"<g><title>{escape(name)}: {escape('; '.join(tips))}</title>"
            f'<text class="chart-label" x="{label_width - 6}" y="{middle:.1f}" '
            f'text-anchor="end">{escape(short)}</text>{"".join(bars)}</g>'
        )
    parts.extend(_legend(series, float(label_width), float(height - 14)))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped


def column_chart(
    labels: Sequence[str],
    series: Sequence[Measures],
    *,
    label: str,
    value_format: Callable[[float], str] = format_number,
    axis_max: Callable[[float], float] = _nice_max,
    width: int = 760,
    height: int = 180,
) -> Markup:
    """Vertical bars side by side in each labelled bucket, a y axis in the values' unit, a legend.

    For measures per period (a median duration per week): unlike :func:`time_chart` the series
    are not stacked, since two medians do not add up. A missing value draws no bar.
    """
    measured = [v for s in series for v in s.values if v is not None]
    if not labels or not series or not measured:
        return Markup('<p class="chart-empty">No data in this period.</p>')  # noqa: S704
    top = axis_max(max(measured)) or 1.0
    left, bottom, top_pad = 64, 22, 8
    plot_w, plot_h = width - left - 6, height - bottom - top_pad
    step = plot_w / len(labels)
    gap = min(4.0, step * 0.2)
    bar_w = max((step - gap) / len(series), 1.0)
    parts = [
        f'<svg class="chart column-chart" viewBox="0 0 {width} {height + 18}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMinYMin meet">'
    ]
    parts.append(_y_axis(left, width, top_pad, plot_h, top, value_format))
    for index, name in enumerate(labels):
        x = left + index * step + gap / 2
        tips = [name]
        bars = []
        for offset, s in enumerate(series):
            value = s.values[index] if index < len(s.values) else None
            tips.append(f"{s.name}: {value_format(value) if value is not None else chr(0x2013)}")
            if value is None:
                continue
            h = plot_h * min(value, top) / top
            bars.append(
                f'<rect class="bar {escape(s.css)}" x="{x + offset * bar_w:.1f}" '
                f'y="{top_pad + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}"></rect>'
            )
        parts.append(f"<g><title>{escape(', '.join(tips))}</title>{''.join(bars)}</g>")
    every = max(1, len(labels) // 8)
    for index in range(0, len(labels), every):
        parts.append(
            f'<text class="axis" x="{left + index * step:.1f}" y="{height - 6}">'
            f"{escape(labels[index])}</text>"
        )
    parts.extend(_legend(series, float(left), float(height + 6)))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped
