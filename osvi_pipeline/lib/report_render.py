"""The daily report: Markdown and a self-contained HTML page with inline SVG charts (pure).

No script, font or stylesheet is fetched from anywhere: the page opens on a machine without
internet.
"""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

PALETTE = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626", "#ca8a04",
           "#4b5563"]


@dataclass(frozen=True)
class Summary:
    day: date
    calls: int
    campaigns: int
    top_outcome: str | None
    top_outcome_calls: int | None
    previous_day_calls: int | None
    trailing_7_day_mean: float | None


@dataclass(frozen=True)
class CampaignDay:
    campaign: str
    calls: int
    unique_phones: int
    inbound: int
    outbound: int
    extra_deliveries: int
    attempts: int = 0
    reach_rate: float | None = None


@dataclass(frozen=True)
class Outcome:
    campaign: str
    outcome: str
    calls: int
    share: float


@dataclass(frozen=True)
class Flag:
    """A campaign_flags row that is flagged: a change that is significant and large enough."""

    campaign: str
    metric: str  # calls, silent, reach_rate, share:<condition>, true_rate:<field>
    value: float
    baseline: float
    interval_low: float | None
    interval_high: float | None
    day_count: int


@dataclass(frozen=True)
class Attention:
    """What else the day's reader should look at."""

    new_fields: list[str] = field(default_factory=list)
    type_conflicts: list[str] = field(default_factory=list)
    rejected: int = 0


@dataclass(frozen=True)
class DailyReport:
    summary: Summary
    campaigns: list[CampaignDay]
    outcomes: list[Outcome]
    trend: list[tuple[date, int]]  # up to 14 days ending on the report's day (0 when quiet)
    reach_rate: float | None = None  # picked / attempts, from call-status webhooks
    flags: list[Flag] = field(default_factory=list)
    attention: Attention = field(default_factory=Attention)


TOP_CAMPAIGNS = 3
MAX_CHAT_FLAGS = 8


def describe_flag(flag: Flag) -> str:
    """One line a person reads: what changed, against what, and how sure."""
    if flag.metric == "silent":
        return (f"{flag.campaign}: no calls, after calls on each of the 7 days before "
                f"({flag.baseline:.0f} a day)")
    if flag.metric == "calls":
        return (f"{flag.campaign}: {flag.value:.0f} calls against {flag.baseline:.1f} a day "
                f"over the 7 days before (usual range {flag.interval_low or 0:.0f}-"
                f"{flag.interval_high or 0:.0f})")
    kind, _, name = flag.metric.partition(":")
    label = {"reach_rate": "reach rate", "share": f"share of {name}",
             "true_rate": f"{name} true rate"}.get(kind, flag.metric)
    return (f"{flag.campaign}: {label} {flag.value:.0%} against {flag.baseline:.0%} over the "
            f"7 days before (95% interval {flag.interval_low or 0:.0%}-"
            f"{flag.interval_high or 0:.0%}, n={flag.day_count})")


def headline(report: DailyReport) -> list[str]:
    """The first lines: how the day went, overall and for the top campaigns."""
    s = report.summary
    lines = [f"{_plural(s.calls, 'call')} across {_plural(s.campaigns, 'campaign')} on "
             f"{s.day.isoformat()} ({_change(s.calls, s.previous_day_calls)} vs the day before)"]
    if report.reach_rate is not None:
        lines.append(f"reach rate {report.reach_rate:.0%}")
    lines.append(f"top outcome: {_top_outcome(s)}")
    top_outcomes: dict[str, Outcome] = {}
    for outcome in report.outcomes:
        best = top_outcomes.get(outcome.campaign)
        if best is None or (outcome.calls, best.outcome) > (best.calls, outcome.outcome):
            top_outcomes[outcome.campaign] = outcome
    for campaign in report.campaigns[:TOP_CAMPAIGNS]:
        parts = [_plural(campaign.calls, "call")]
        if campaign.reach_rate is not None:
            parts.append(f"reach rate {campaign.reach_rate:.0%}")
        if campaign.campaign in top_outcomes:
            parts.append(f"top outcome {top_outcomes[campaign.campaign].outcome}")
        lines.append(f"{campaign.campaign}: {', '.join(parts)}")
    return lines


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def attention_lines(report: DailyReport) -> list[str]:
    """The flags, then new fields, type conflicts and rejected deliveries."""
    lines = [describe_flag(flag) for flag in report.flags]
    a = report.attention
    if a.new_fields:
        lines.append(f"new fields: {', '.join(a.new_fields)}")
    if a.type_conflicts:
        lines.append(f"type conflicts (values of several types): {', '.join(a.type_conflicts)}")
    if a.rejected:
        lines.append(f"{a.rejected} deliveries could not become calls (rejected_deliveries)")
    return lines


def render_chat_text(report: DailyReport, link: str | None = None) -> str:
    """A short text for chat targets: the headline numbers, what needs attention, a link."""
    attention = attention_lines(report)
    shown = attention[:MAX_CHAT_FLAGS]
    more = len(attention) - len(shown)
    lines = [*headline(report), ""]
    lines += (["Needs attention:", *(f"- {line}" for line in shown)] if shown
              else ["Nothing needs attention."])
    if more:
        lines.append(f"- and {more} more in the report")
    if link:
        lines += ["", f"Report: {link}"]
    return "\n".join(lines) + "\n"


TREND_DAYS = 14  # the trend chart has a slot per day


def _change(now: int, before: float | None) -> str:
    if before is None:
        return "n/a"
    delta = now - before
    percent = f" ({delta / before:+.0%})" if before else ""
    return f"{delta:+.1f}{percent}" if isinstance(before, float) else f"{delta:+d}{percent}"


def _top_outcome(s: Summary) -> str:
    n = s.top_outcome_calls
    calls = f" ({n} call{'' if n == 1 else 's'})" if n else ""
    return f"{s.top_outcome or 'n/a'}{calls}"


def render_markdown(report: DailyReport) -> str:
    s = report.summary
    attention = attention_lines(report)
    lines = [
        f"# OSVI calls on {s.day.isoformat()}",
        "",
        *(f"- {_md(line)}" for line in headline(report)),
        f"- change vs the trailing 7-day mean: {_change(s.calls, s.trailing_7_day_mean)}",
        "",
        "## Needs attention",
        "",
        *([f"- {_md(line)}" for line in attention] or ["Nothing needs attention."]),
        "",
        "## Campaigns",
        "",
        "| campaign | calls | unique phones | inbound | outbound | extra deliveries |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {_md(c.campaign)} | {c.calls} | {c.unique_phones} | {c.inbound} | "
              f"{c.outbound} | {c.extra_deliveries} |" for c in report.campaigns]
    lines += ["", "## Outcomes", "", "| campaign | outcome | calls | share |",
              "|---|---|---:|---:|"]
    lines += [f"| {_md(o.campaign)} | {_md(o.outcome)} | {o.calls} | {o.share:.0%} |"
              for o in report.outcomes]
    lines += ["", "## Last 14 days", "", "| day | calls |", "|---|---:|"]
    lines += [f"| {day.isoformat()} | {calls} |" for day, calls in report.trend]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_html(report: DailyReport) -> str:
    s = report.summary
    title = f"OSVI calls on {s.day.isoformat()}"
    attention = attention_lines(report)
    body = [
        f"<h1>{html.escape(title)}</h1>",
        "<ul>",
        *(f"<li>{html.escape(line)}</li>" for line in headline(report)),
        f"<li>vs the trailing 7-day mean: {_change(s.calls, s.trailing_7_day_mean)}</li>",
        "</ul>",
        "<h2>Needs attention</h2>",
        ("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in attention) + "</ul>"
         if attention else "<p>Nothing needs attention.</p>"),
        "<h2>Calls per campaign</h2>",
        bar_chart([(c.campaign, c.calls) for c in report.campaigns]),
        "<h2>Outcome mix per campaign</h2>",
        stacked_share_chart(report.outcomes),
        "<h2>Last 14 days</h2>",
        trend_chart(report.trend),
    ]
    style = ("body{font-family:system-ui,sans-serif;max-width:860px;margin:2em auto;"
             "color:#111827}h2{margin-top:1.6em}svg text{font-size:12px;fill:#374151}")
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{style}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")


def bar_chart(rows: list[tuple[str, int]], width: int = 800) -> str:
    if not rows:
        return "<p>No calls.</p>"
    label_width, bar_height = 220, 22
    top = max(value for _, value in rows) or 1
    parts = []
    for index, (label, value) in enumerate(rows):
        y = index * (bar_height + 6)
        length = (width - label_width - 60) * value / top
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end">'
            f"{html.escape(label)}</text>"
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" '
            f'fill="{PALETTE[0]}"><title>{html.escape(label)}: {value}</title></rect>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + 15}">{value}</text>')
    height = len(rows) * (bar_height + 6)
    return _svg(width, height, parts, "Calls per campaign")


def stacked_share_chart(outcomes: list[Outcome], width: int = 800) -> str:
    if not outcomes:
        return "<p>No calls.</p>"
    by_campaign: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_campaign[outcome.campaign].append(outcome)
    names = sorted({o.outcome for o in outcomes})
    colour = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    label_width, bar_height, span = 220, 22, width - 240
    parts = []
    for index, (campaign, items) in enumerate(sorted(by_campaign.items())):
        y, x = index * (bar_height + 6), float(label_width)
        parts.append(f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end">'
                     f"{html.escape(campaign)}</text>")
        for item in sorted(items, key=lambda o: o.outcome):
            length = span * item.share
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{length:.1f}" '
                         f'height="{bar_height}" fill="{colour[item.outcome]}"><title>'
                         f"{html.escape(item.outcome)}: {item.calls} ({item.share:.0%})"
                         "</title></rect>")
            x += length
    legend_y = len(by_campaign) * (bar_height + 6) + 10
    for index, name in enumerate(names):
        x = label_width + (index % 4) * 140
        y = legend_y + (index // 4) * 18
        parts.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{colour[name]}"/>'
                     f'<text x="{x + 14}" y="{y + 10}">{html.escape(name)}</text>')
    height = legend_y + ((len(names) + 3) // 4) * 18 + 4
    return _svg(width, height, parts, "Outcome mix per campaign")


def trend_chart(trend: list[tuple[date, int]], width: int = 800, height: int = 220) -> str:
    if not trend:
        return "<p>No calls.</p>"
    top = max(calls for _, calls in trend) or 1
    step = (width - 60) / TREND_DAYS  # a day is as wide on the first day as on the 14th
    parts = []
    for index, (day, calls) in enumerate(trend):
        bar = (height - 50) * calls / top
        x = 40 + index * step
        parts.append(f'<rect x="{x:.1f}" y="{height - 30 - bar:.1f}" width="{step * 0.7:.1f}" '
                     f'height="{bar:.1f}" fill="{PALETTE[1]}"><title>{day.isoformat()}: '
                     f"{calls}</title></rect>"
                     f'<text x="{x:.1f}" y="{height - 12}">{day:%d %b}</text>'
                     f'<text x="{x:.1f}" y="{height - 34 - bar:.1f}">{calls}</text>')
    return _svg(width, height, parts, "Calls per day, last 14 days")


def _svg(width: int, height: int, parts: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" '
            f'aria-label="{html.escape(label)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">' + "".join(parts) + "</svg>")
