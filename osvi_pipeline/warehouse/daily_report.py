"""The daily report's data: queries on the marts, and its files (rendering is in lib)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from osvi_pipeline.lib.report_render import (
    Attention,
    CampaignDay,
    DailyReport,
    Flag,
    Outcome,
    SchemaChange,
    Summary,
    render_html,
    render_markdown,
)
from osvi_pipeline.warehouse.queries import scalar, table_exists

SUMMARY_SQL = """
select call_date, calls, campaigns, top_outcome, top_outcome_calls, previous_day_calls,
       trailing_7_day_mean
from daily_summary where call_date = $day
"""
CAMPAIGNS_SQL = """
select campaign, calls, unique_phones, inbound, outbound, extra_deliveries, attempts, reach_rate
from campaign_daily where call_date = $day order by calls desc, campaign
"""
REACH_SQL = """
select sum(reach_rate * attempts) / nullif(sum(attempts), 0)
from campaign_daily where call_date = $day
"""
FLAGS_SQL = """
select campaign, metric, value, baseline, interval_low, interval_high, day_count
from campaign_flags where call_date = $day and flagged
order by metric = 'silent' desc, abs(value - baseline) / greatest(baseline, 1e-9) desc, campaign
"""
SCHEMA_CHANGES_SQL = """
select agent_name, section, path, change, detail from schema_changes
where change_date = $day order by agent_name, section, path, change
"""
# Fields whose first value came on this day, from the per-day aggregates (a few rows per agent,
# path and day): the long tables joined with calls cost a scan of the whole history each run.
NEW_FIELDS_SQL = """
select section || '.' || path as name from agent_field_days
group by all having min(call_date) = $day order by name
"""
CONFLICTS_SQL = """
select table_name || '.' || column_name || ' (' || array_to_string(observed_types, ', ') || ')'
from field_catalog where conflict order by 1
"""
REJECTED_SQL = """
select count(*) from rejected_deliveries as r join deliveries as d using (delivery_id)
where d.received_day = $day
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

    def rows(sql: str) -> list[Any]:
        return con.execute(sql, params).fetchall()

    return DailyReport(
        summary=Summary(*row),
        campaigns=[CampaignDay(*r) for r in rows(CAMPAIGNS_SQL)],
        outcomes=[Outcome(*r) for r in rows(OUTCOMES_SQL)],
        trend=[(d, c) for d, c in rows(TREND_SQL)],
        reach_rate=scalar(con, REACH_SQL, params),
        flags=([Flag(*r) for r in rows(FLAGS_SQL)]
               if table_exists(con, "main", "campaign_flags") else []),
        attention=Attention(
            new_fields=[r[0] for r in rows(NEW_FIELDS_SQL)],
            schema_changes=([SchemaChange(*r) for r in rows(SCHEMA_CHANGES_SQL)]
                            if table_exists(con, "main", "schema_changes") else []),
            type_conflicts=([r[0] for r in con.execute(CONFLICTS_SQL).fetchall()]
                            if table_exists(con, "main", "field_catalog") else []),
            rejected=int(scalar(con, REJECTED_SQL, params))),
    )


@dataclass(frozen=True)
class ReportFiles:
    html_path: Path
    markdown: str
    html: str


def write_report_files(report: DailyReport, directory: Path) -> ReportFiles:
    """`<day>.md` and `<day>.html` in `directory`, each replaced whole; returns what was
    written (the HTML goes on to email targets as it is)."""
    directory.mkdir(parents=True, exist_ok=True)
    day = report.summary.day.isoformat()
    written = ReportFiles(directory / f"{day}.html", render_markdown(report),
                          render_html(report))
    _write(directory / f"{day}.md", written.markdown)
    _write(written.html_path, written.html)
    return written


def _write(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)
