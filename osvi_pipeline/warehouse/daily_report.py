"""The daily report's data: queries on the marts, and its files (rendering is in lib)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb

from osvi_pipeline.lib.report_render import (
    CampaignDay,
    DailyReport,
    Outcome,
    Summary,
    render_html,
    render_markdown,
)
from osvi_pipeline.warehouse.queries import scalar

SUMMARY_SQL = """
select call_date, calls, campaigns, top_outcome, top_outcome_calls, previous_day_calls,
       trailing_7_day_mean
from daily_summary where call_date = $day
"""
CAMPAIGNS_SQL = """
select campaign, calls, unique_phones, inbound, outbound, extra_deliveries
from campaign_daily where call_date = $day order by calls desc, campaign
"""
OUTCOMES_SQL = """
select campaign, coalesce(matched_condition, intent, '(none)') as outcome, sum(calls),
       sum(share)
from campaign_outcomes where call_date = $day group by all order by campaign, outcome
"""
TREND_SQL = """
select call_date, calls from daily_summary
where call_date between $day - interval 13 day and $day order by call_date
"""


def latest_report_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The latest day with calls."""
    day: date | None = scalar(con, "select max(call_date) from daily_summary")
    return day


def load_report(con: duckdb.DuckDBPyConnection, day: date) -> DailyReport | None:
    row = con.execute(SUMMARY_SQL, {"day": day}).fetchone()
    if row is None:
        return None
    params = {"day": day}
    return DailyReport(
        summary=Summary(*row),
        campaigns=[CampaignDay(*r) for r in con.execute(CAMPAIGNS_SQL, params).fetchall()],
        outcomes=[Outcome(*r) for r in con.execute(OUTCOMES_SQL, params).fetchall()],
        trend=[(d, c) for d, c in con.execute(TREND_SQL, params).fetchall()],
    )


def write_report_files(report: DailyReport, directory: Path) -> tuple[Path, str]:
    """`<day>.md` and `<day>.html` in `directory`, each replaced whole; returns the HTML file
    and the Markdown."""
    directory.mkdir(parents=True, exist_ok=True)
    markdown = render_markdown(report)
    day = report.summary.day.isoformat()
    _write(directory / f"{day}.md", markdown)
    _write(directory / f"{day}.html", render_html(report))
    return directory / f"{day}.html", markdown


def _write(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)
