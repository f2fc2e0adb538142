"""`daily_report`: the day's summary as Markdown and HTML files, and in the Dagster UI."""

from datetime import date
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from osvi_pipeline.defs.resources import WAREHOUSE_POOL, OsviOptions
from osvi_pipeline.warehouse.daily_report import (
    latest_report_day,
    load_report,
    write_report_files,
)


@dg.asset(deps=["daily_summary", "campaign_daily", "campaign_outcomes"], kinds={"duckdb"},
          pool=WAREHOUSE_POOL, group_name="marts",
          description="The daily report: reports/daily/YYYY-MM-DD.md and .html (charts inline, "
                      "opens offline) for the run's day.")
def daily_report(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                 osvi: OsviOptions) -> dg.MaterializeResult:  # type: ignore[type-arg]
    # The run's day (a partition, or the end of a range), else the latest day with calls.
    tag = (context.run.tags.get("dagster/partition")
           or context.run.tags.get("dagster/asset_partition_range_end"))
    with duckdb.get_connection() as con:
        day = date.fromisoformat(tag) if tag else latest_report_day(con)
        report = load_report(con, day) if day else None
    if report is None:
        return dg.MaterializeResult(metadata={"report": dg.MetadataValue.md("No calls yet.")})
    html, markdown = write_report_files(report, Path(osvi.reports_dir) / "daily")
    return dg.MaterializeResult(metadata={
        "day": dg.MetadataValue.text(report.summary.day.isoformat()),
        "html": dg.MetadataValue.path(str(html)),
        "report": dg.MetadataValue.md(markdown),
    })
