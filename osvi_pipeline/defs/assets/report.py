"""`daily_report`: the day's summary as Markdown and HTML files, and in the Dagster UI."""

import os
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from osvi_pipeline.reports import (
    CampaignDay,
    DailyReport,
    Outcome,
    Summary,
    render_html,
    render_markdown,
)
from osvi_pipeline.resources import WAREHOUSE_POOL, OsviOptions

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


def report_day(run_tags: dict[str, str], con: duckdb.DuckDBPyConnection) -> date | None:
    """The run's day (a partition, or the end of a range), else the latest day with calls."""
    tag = run_tags.get("dagster/partition") or run_tags.get(
        "dagster/asset_partition_range_end")
    if tag:
        return date.fromisoformat(tag)
    latest = con.execute("select max(call_date) from daily_summary").fetchone()
    return latest[0] if latest else None


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


def _write(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


@dg.asset(deps=["daily_summary", "campaign_daily", "campaign_outcomes"], kinds={"duckdb"},
          pool=WAREHOUSE_POOL, group_name="marts",
          description="The daily report: reports/daily/YYYY-MM-DD.md and .html (charts inline, "
                      "opens offline) for the run's day.")
def daily_report(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                 osvi: OsviOptions) -> dg.MaterializeResult:  # type: ignore[type-arg]
    with duckdb.get_connection() as con:
        day = report_day(dict(context.run.tags), con)
        report = load_report(con, day) if day else None
    if report is None:
        return dg.MaterializeResult(metadata={"report": dg.MetadataValue.md("No calls yet.")})
    directory = Path(osvi.reports_dir) / "daily"
    directory.mkdir(parents=True, exist_ok=True)
    markdown = render_markdown(report)
    _write(directory / f"{report.summary.day.isoformat()}.md", markdown)
    _write(directory / f"{report.summary.day.isoformat()}.html", render_html(report))
    return dg.MaterializeResult(metadata={
        "day": dg.MetadataValue.text(report.summary.day.isoformat()),
        "html": dg.MetadataValue.path(str(directory / f"{report.summary.day}.html")),
        "report": dg.MetadataValue.md(markdown),
    })
