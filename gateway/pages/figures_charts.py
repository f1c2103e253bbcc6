"""A small server-side SVG chart renderer for the pilot figures: horizontal bars and weekly columns.

No script and no chart library: the hospital network reaches no CDN, and a static SVG prints, scales and
passes the page's strict Content-Security-Policy. Each chart is an `<svg role="img">` with a title and a
description; the page puts the same numbers in a table beside it for screen readers and for copying.
Labels and values are escaped here (they are codes and numbers, but an SVG is markup).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

_INK = "#1d2530"
_MUTED = "#5b6675"
_GRID = "#d5dbe3"
PALETTE = ("#0b5cad", "#8a5a00", "#1e6b34", "#b3261e")  # contrast ≥ 4.5:1 on white


@dataclass(frozen=True)
class Bar:
    label: str
    values: tuple[float | None, ...]  # one per series
    shown: tuple[str, ...]  # how each value is written next to its bar


def _fmt(value: float) -> str:
    return f"{value:g}"


def hbars(
    *,
    chart_id: str,
    title: str,
    description: str,
    series: Sequence[str],
    bars: Sequence[Bar],
    maximum: float | None = None,
    width: int = 800,
) -> str:
    """Grouped horizontal bars: one group per `Bar`, one bar per series, the value written at its end."""
    label_w, value_w, bar_h, gap = 280, 100, 16, 14
    plot_w = width - label_w - value_w
    top = 8 + (22 if len(series) > 1 else 0)
    group_h = bar_h * len(series) + gap
    height = top + max(1, len(bars)) * group_h + 8
    peak = maximum or max((v for b in bars for v in b.values if v is not None), default=0.0) or 1.0
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" aria-labelledby="{escape(chart_id)}-t '
        f'{escape(chart_id)}-d">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-d">{escape(description)}</desc>',
    ]
    if len(series) > 1:
        x = label_w
        for index, name in enumerate(series):
            colour = PALETTE[index % len(PALETTE)]
            out.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{colour}"/>')
            out.append(f'<text x="{x + 16}" y="16" font-size="12" fill="{_INK}">{escape(name)}</text>')
            x += 24 + 8 * len(name)
    if not bars:
        out.append(f'<text x="{label_w}" y="{top + 14}" font-size="13" fill="{_MUTED}">—</text>')
    for row, bar in enumerate(bars):
        y0 = top + row * group_h
        out.append(
            f'<text x="{label_w - 8}" y="{y0 + bar_h * len(series) / 2 + 4:.0f}" font-size="13" '
            f'text-anchor="end" fill="{_INK}">{escape(bar.label)}</text>'
        )
        for index, value in enumerate(bar.values):
            y = y0 + index * bar_h
            length = 0.0 if value is None else max(0.0, min(1.0, value / peak)) * plot_w
            colour = PALETTE[index % len(PALETTE)]
            out.append(
                f'<rect class="bar" x="{label_w}" y="{y + 2}" width="{length:.1f}" height="{bar_h - 4}" '
                f'fill="{colour}" data-value="{"" if value is None else _fmt(value)}"/>'
            )
            out.append(
                f'<text x="{label_w + length + 6:.1f}" y="{y + bar_h - 4}" font-size="12" '
                f'fill="{_INK}">{escape(bar.shown[index])}</text>'
            )
    out.append(f'<line x1="{label_w}" y1="{top - 2}" x2="{label_w}" y2="{height - 6}" stroke="{_GRID}"/>')
    out.append("</svg>")
    return "".join(out)


def columns(
    *,
    chart_id: str,
    title: str,
    description: str,
    series: Sequence[str],
    labels: Sequence[str],
    values: Sequence[Sequence[int]],  # values[series][column]
    width: int = 640,
    height: int = 220,
) -> str:
    """Grouped vertical columns over time (one group per label, e.g. an ISO week), with a y-axis."""
    left, bottom, top = 36, 40, 28
    plot_w, plot_h = width - left - 8, height - top - bottom
    peak = max((v for row in values for v in row), default=0) or 1
    groups = max(1, len(labels))
    group_w = plot_w / groups
    col_w = max(2.0, min(28.0, (group_w - 6) / max(1, len(series))))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" aria-labelledby="{escape(chart_id)}-t '
        f'{escape(chart_id)}-d">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-d">{escape(description)}</desc>',
    ]
    x = left
    for index, name in enumerate(series):
        out.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{PALETTE[index % len(PALETTE)]}"/>')
        out.append(f'<text x="{x + 16}" y="16" font-size="12" fill="{_INK}">{escape(name)}</text>')
        x += 24 + 8 * len(name)
    for tick in (0, peak / 2, peak):
        y = top + plot_h - tick / peak * plot_h
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" stroke="{_GRID}"/>')
        out.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="{_MUTED}">{_fmt(round(tick, 1))}</text>'
        )
    every = max(1, len(labels) // 8)  # at most ~8 axis labels, so they never overlap
    for column, label in enumerate(labels):
        gx = left + column * group_w + 3
        for index, row in enumerate(values):
            value = row[column]
            h = value / peak * plot_h
            out.append(
                f'<rect class="bar" x="{gx + index * col_w:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{col_w - 1:.1f}" height="{h:.1f}" fill="{PALETTE[index % len(PALETTE)]}" '
                f'data-value="{value}"><title>{escape(series[index])} {escape(label)}: {value}</title></rect>'
            )
        if column % every == 0:
            out.append(
                f'<text x="{gx:.1f}" y="{height - bottom + 16}" font-size="11" fill="{_MUTED}">'
                f"{escape(label)}</text>"
            )
    out.append("</svg>")
    return "".join(out)
