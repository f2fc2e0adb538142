"""Inline SVG charts: the one chart module the daily report and the campaign explorer draw with
(pure). No script, font or stylesheet is fetched: a page holding them opens offline. Every
mark carries a <title> with its exact value, and the pages show a table beside each chart.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from datetime import date

PALETTE = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626", "#ca8a04",
           "#4b5563"]
NO_DATA = "<p>No calls.</p>"


def bar_chart(rows: Sequence[tuple[str, int]], label: str, width: int = 800) -> str:
    """One horizontal bar per labelled count (calls per campaign)."""
    if not rows:
        return NO_DATA
    label_width, bar_height = 220, 22
    top = max(value for _, value in rows) or 1
    parts = []
    for index, (name, value) in enumerate(rows):
        y = index * (bar_height + 6)
        length = (width - label_width - 60) * value / top
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end">'
            f"{html.escape(name)}</text>"
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" '
            f'fill="{PALETTE[0]}"><title>{html.escape(name)}: {value}</title></rect>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + 15}">{value}</text>')
    return _svg(width, len(rows) * (bar_height + 6), parts, label)


def stacked_share_chart(segments: Sequence[tuple[str, str, int, float]], label: str,
                        width: int = 800) -> str:
    """A bar per row label (a campaign, a day), split by part (an outcome) in proportion to its
    share; segments are (row label, part, count, share)."""
    if not segments:
        return NO_DATA
    by_row: dict[str, list[tuple[str, int, float]]] = defaultdict(list)
    for row, part, count, share in segments:
        by_row[row].append((part, count, share))
    names = sorted({part for _, part, _, _ in segments})
    colour = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    label_width, bar_height, span = 220, 22, width - 240
    parts = []
    for index, (row, items) in enumerate(sorted(by_row.items())):
        y, x = index * (bar_height + 6), float(label_width)
        parts.append(f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end">'
                     f"{html.escape(row)}</text>")
        for part, count, share in sorted(items):
            length = span * share
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{length:.1f}" '
                         f'height="{bar_height}" fill="{colour[part]}"><title>'
                         f"{html.escape(part)}: {count} ({share:.0%})</title></rect>")
            x += length
    legend_y = len(by_row) * (bar_height + 6) + 10
    for index, name in enumerate(names):
        x = label_width + (index % 4) * 140
        y = legend_y + (index // 4) * 18
        parts.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{colour[name]}"/>'
                     f'<text x="{x + 14}" y="{y + 10}">{html.escape(name)}</text>')
    height = legend_y + ((len(names) + 3) // 4) * 18 + 4
    return _svg(width, height, parts, label)


def trend_chart(trend: Sequence[tuple[date, int]], label: str, slots: int | None = None,
                width: int = 800, height: int = 220) -> str:
    """A column per day. `slots`: days the width is divided into (the report's 14, so a day
    is as wide on the first day of a history as on the fourteenth); default one per day."""
    if not trend:
        return NO_DATA
    top = max(calls for _, calls in trend) or 1
    step = (width - 60) / max(slots or len(trend), len(trend))
    every = max(1, len(trend) // 14)  # at most ~14 day labels
    parts = []
    for index, (day, calls) in enumerate(trend):
        bar = (height - 50) * calls / top
        x = 40 + index * step
        parts.append(f'<rect x="{x:.1f}" y="{height - 30 - bar:.1f}" width="{step * 0.7:.1f}" '
                     f'height="{bar:.1f}" fill="{PALETTE[1]}"><title>{day.isoformat()}: '
                     f"{calls}</title></rect>")
        if index % every == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 12}">{day:%d %b}</text>'
                         f'<text x="{x:.1f}" y="{height - 34 - bar:.1f}">{calls}</text>')
    return _svg(width, height, parts, label)


def sparkline(values: Sequence[int], width: int = 120, height: int = 24) -> str:
    """A campaign's daily calls as a small line, for a table cell."""
    if not values:
        return ""
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{index * step:.1f},{height - 2 - (height - 4) * value / top:.1f}"
                      for index, value in enumerate(values))
    summary = ", ".join(str(value) for value in values)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" aria-label="calls per day: '
            f'{summary}"><title>calls per day: {summary}</title><polyline fill="none" '
            f'stroke="{PALETTE[0]}" stroke-width="1.5" points="{points}"/></svg>')


def _svg(width: int, height: int, parts: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" '
            f'aria-label="{html.escape(label)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">' + "".join(parts) + "</svg>")
