"""`daily_report`: the day's summary as Markdown and HTML files, in the Dagster UI, and (on
the 00:15 schedule's run) sent to every OSVI_NOTIFY_URLS target that has not received it."""

from datetime import date
from pathlib import Path

import dagster as dg

from osvi_pipeline.defs.resources import WAREHOUSE_POOL, NotifyTargets, OsviOptions, WarehouseDuckDB
from osvi_pipeline.lib.report_render import DailyReport
from osvi_pipeline.warehouse.daily_report import (
    latest_report_day,
    load_report,
    write_report_files,
)
from osvi_pipeline.warehouse.notifications import (
    record,
    send,
    summary_message,
    targets_sent,
)

SEND_TAG = "osvi/send_report"  # set by the daily schedule: its run sends the summary
DELIVERED = "summary_delivered"


@dg.asset(deps=["daily_summary", "campaign_daily", "campaign_outcomes", "campaign_flags",
                "agent_field_days"],
          kinds={"duckdb"}, pool=WAREHOUSE_POOL, group_name="marts",
          description="The daily report: reports/daily/YYYY-MM-DD.md and .html (charts inline, "
                      "opens offline) for the run's day; the 00:15 run also sends it.",
          check_specs=[dg.AssetCheckSpec(DELIVERED, asset="daily_report",
                                         description="Every OSVI_NOTIFY_URLS target received "
                                                     "the day's summary (warning).")])
def daily_report(context: dg.AssetExecutionContext, duckdb: WarehouseDuckDB, osvi: OsviOptions,
                 notify: NotifyTargets) -> dg.MaterializeResult:  # type: ignore[type-arg]
    # The run's day (a partition, or the end of a range), else the latest day with calls.
    tag = (context.run.tags.get("dagster/partition")
           or context.run.tags.get("dagster/asset_partition_range_end"))
    with duckdb.get_connection() as con:
        day = date.fromisoformat(tag) if tag else latest_report_day(con)
        report = load_report(con, day) if day else None
    if report is None:
        return dg.MaterializeResult(
            metadata={"report": dg.MetadataValue.md("No calls yet.")},
            check_results=[dg.AssetCheckResult(check_name=DELIVERED, passed=True,
                                               metadata={"sent": "no report to send"})])
    written = write_report_files(report, Path(osvi.daily_reports_dir))
    delivered = (_send(context, duckdb, osvi, notify, report, written.html)
                 if context.run.tags.get(SEND_TAG) == "true"
                 else dg.AssetCheckResult(check_name=DELIVERED, passed=True,
                                          metadata={"sent": "not a sending run"}))
    return dg.MaterializeResult(metadata={
        "day": dg.MetadataValue.text(report.summary.day.isoformat()),
        "html": dg.MetadataValue.path(str(written.html_path)),
        "report": dg.MetadataValue.md(written.markdown),
    }, check_results=[delivered])


def _send(context: dg.AssetExecutionContext, duckdb: WarehouseDuckDB, osvi: OsviOptions,
          notify: NotifyTargets, report: DailyReport, html: str) -> dg.AssetCheckResult:
    """Send to the targets that have not received this day's summary; record each outcome.
    A failure is a warning, never a failed run: the data is loaded either way."""
    day = report.summary.day
    with duckdb.get_connection() as con:
        done = targets_sent(con, day)
    pending = [target for target in notify.targets if target.key not in done]
    message = summary_message(report, html, osvi.report_base_url)
    outcomes = [send(target, message, osvi.notify_attempts, osvi.notify_backoff_seconds)
                for target in pending]
    with duckdb.get_connection() as con:
        record(con, day, outcomes)
    failed = [o for o in outcomes if not o.sent]
    for outcome in failed:
        context.log.warning(f"daily summary for {day} not delivered to {outcome.target.name} "
                            f"after {outcome.attempts} attempts: {outcome.error}")
    return dg.AssetCheckResult(
        check_name=DELIVERED, passed=not failed, severity=dg.AssetCheckSeverity.WARN,
        metadata={"sent": dg.MetadataValue.json([o.target.name for o in outcomes if o.sent]),
                  "failed": dg.MetadataValue.json({o.target.name: o.error for o in failed}),
                  "sent_before": dg.MetadataValue.int(len(done))})
