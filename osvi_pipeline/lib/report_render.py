"""The daily report: Markdown and a self-contained HTML page with inline SVG charts (pure).

No script, font or stylesheet is fetched from anywhere: the page opens on a machine without
internet.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date

from osvi_pipeline.lib.charts import bar_chart, stacked_share_chart, trend_chart


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
class SchemaChange:
    """A schema_changes row: an agent's extraction changed shape that day."""

    agent_name: str
    section: str
    path: str
    change: str  # appeared | disappeared | type_changed
    detail: str | None = None


CONDITION_PREFIX = "_matched_condition="


def describe_change(change: SchemaChange) -> str:
    """One line a person reads about an extraction change."""
    if change.path.startswith(CONDITION_PREFIX):
        condition = change.path.removeprefix(CONDITION_PREFIX)
        return (f"{change.agent_name}: new matched condition {condition}"
                if change.change == "appeared"
                else f"{change.agent_name}: condition {condition} no longer matched"
                + (f" ({change.detail})" if change.detail else ""))
    where = f"{change.path} ({change.section})"
    if change.change == "appeared":
        return f"{change.agent_name} started filling {where}"
    if change.change == "disappeared":
        return (f"{change.agent_name} stopped filling {where}"
                + (f": {change.detail}" if change.detail else ""))
    return f"{change.agent_name}: {where} changed type, {change.detail}"


def describe_violation(integration: str, section: str, path: str, deliveries: int) -> str:
    """One line about a frozen contract's new path."""
    return (f"{integration}: {path} ({section}) is not in its frozen contract "
            f"({deliveries} {'delivery' if deliveries == 1 else 'deliveries'})")


@dataclass(frozen=True)
class Attention:
    """What else the day's reader should look at."""

    new_fields: list[str] = field(default_factory=list)
    schema_changes: list[SchemaChange] = field(default_factory=list)
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
    """The first lines: what changed in the agents' extraction (news the numbers below depend
    on), then how the day went, overall and for the top campaigns."""
    s = report.summary
    lines = [*(f"extraction changed: {describe_change(change)}"
               for change in report.attention.schema_changes),
             f"{_plural(s.calls, 'call')} across {_plural(s.campaigns, 'campaign')} on "
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


TREND_DAYS = 14  # the report's trend: 14 days ending on its day


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
        bar_chart([(c.campaign, c.calls) for c in report.campaigns], "Calls per campaign"),
        "<h2>Outcome mix per campaign</h2>",
        stacked_share_chart([(o.campaign, o.outcome, o.calls, o.share) for o in report.outcomes],
                            "Outcome mix per campaign"),
        "<h2>Last 14 days</h2>",
        trend_chart(report.trend, "Calls per day, last 14 days", slots=TREND_DAYS),
    ]
    style = ("body{font-family:system-ui,sans-serif;max-width:860px;margin:2em auto;"
             "color:#111827}h2{margin-top:1.6em}svg text{font-size:12px;fill:#374151}")
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{style}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")
