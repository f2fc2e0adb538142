"""`osvi report campaigns|daily`: results from the warehouse."""

from __future__ import annotations

import datetime as dt
import sys
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from osvi_cli.console import (
    check_notify_urls,
    console,
    fail,
    print_table,
    settings_or_exit,
)

report_app = typer.Typer(help="Results from the warehouse.", no_args_is_help=True)


class ReportFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _optional_day(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        fail(f"{value!r} is not a YYYY-MM-DD day")


@report_app.command("campaigns")
def report_campaigns(
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (inclusive).")] = None,
    campaign: Annotated[str | None, typer.Option(help="Only this campaign.")] = None,
    output: Annotated[ReportFormat, typer.Option("--format", help="Output format.")]
    = ReportFormat.table,
) -> None:
    """Calls, unique phones, directions, agents and retries per campaign and day."""
    from osvi_cli.campaign_report import ReportError, as_csv, as_json, as_table, campaign_rows

    settings = settings_or_exit(writes=False)
    try:
        columns, rows = campaign_rows(settings.layout.warehouse_path, _optional_day(start),
                                      _optional_day(end), campaign)
    except ReportError as exc:
        fail(str(exc))
    if output is ReportFormat.csv:
        sys.stdout.write(as_csv(columns, rows))
    elif output is ReportFormat.json:
        sys.stdout.write(as_json(columns, rows) + "\n")
    else:
        print_table(as_table(columns, rows))


@report_app.command("daily")
def report_daily(
    date: Annotated[str | None, typer.Option(
        help="The day, YYYY-MM-DD in OSVI_TIMEZONE (default: yesterday, the last closed day).")]
    = None,
    send_it: Annotated[bool, typer.Option(
        "--send", help="Also send it to every OSVI_NOTIFY_URLS target (always, even to those "
                       "that received it already).")] = False,
) -> None:
    """Write the day's summary (Markdown + HTML) from the warehouse, and send it with --send."""
    import duckdb

    from osvi_pipeline.warehouse.daily_report import load_report, write_report_files
    from osvi_pipeline.warehouse.notifications import send, summary_message

    settings = settings_or_exit()
    targets = check_notify_urls(settings)
    if send_it and not targets:
        fail("--send needs OSVI_NOTIFY_URLS (Apprise URLs: slack://..., mailtos://..., ...)")
    day = _optional_day(date) or (
        dt.datetime.now(ZoneInfo(settings.timezone)).date() - dt.timedelta(days=1))
    warehouse = settings.layout.warehouse_path
    if not warehouse.exists():
        fail(f"no warehouse at {warehouse} yet: run `osvi materialize` first")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        try:
            report = load_report(con, day)
        except duckdb.CatalogException as exc:
            fail(f"the warehouse is missing a table the report reads ({exc}): run "
                 "`osvi materialize`")
    if report is None:
        fail(f"no calls on {day} in {warehouse}")
    written = write_report_files(report, settings.layout.daily_reports_dir)
    console.print(f"wrote {written.html_path} and {written.html_path.with_suffix('.md')}",
                  highlight=False)
    if not send_it:
        return
    message = summary_message(report, written.html, settings.report_base_url)
    failed = 0
    for target in targets:
        outcome = send(target, message, settings.notify_attempts,
                       settings.notify_backoff_seconds)
        failed += not outcome.sent
        console.print(f"{'sent' if outcome.sent else 'FAILED'}: {target.name}"
                      + ("" if outcome.sent else f" ({outcome.error})"), highlight=False)
    if failed:
        raise typer.Exit(1)
