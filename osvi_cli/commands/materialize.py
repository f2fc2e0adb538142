"""`osvi materialize`: the whole asset graph, in-process, for a range of days."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from osvi_cli.console import (
    check_export_destinations,
    check_notify_urls,
    console,
    dagster_home_or_exit,
    fail,
    settings_or_exit,
)
from osvi_core.settings import Settings


def materialize(
    date: Annotated[str | None, typer.Option(help="One day, YYYY-MM-DD.")] = None,
    start: Annotated[str | None, typer.Option(help="First day of a range.")] = None,
    end: Annotated[str | None, typer.Option(help="Last day of a range (inclusive).")] = None,
) -> None:
    """Run the whole asset graph in-process for those days (default: every landed day)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from osvi_pipeline.runtime.instance import persistent_instance
    from osvi_pipeline.runtime.materialize import (
        days_outside_partitions,
        landed_day_range,
        materialize_days,
    )

    settings = settings_or_exit()
    dagster_home_or_exit(settings)  # an instance on PostgreSQL refuses a shell without its URL
    check_notify_urls(settings)
    check_export_destinations(settings)
    days = day_range(date, start, end) or landed_day_range(settings)
    if days is None:
        console.print(f"nothing has landed in {settings.landing_location} yet")
        return
    if (problem := days_outside_partitions(settings, *days)) is not None:
        fail(problem)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("starting", total=None)
        run = materialize_days(settings, *days, instance=persistent_instance(settings),
                               on_step=lambda step: progress.update(task, description=step))
    if not run.success:
        fail("materialization failed (details above and in the Dagster UI)")
    console.print(f"materialized {days[0]}..{days[1]} into {settings.layout.warehouse_path}")
    if settings.export_destination_list:
        export_or_exit(settings, full=False)


EXPORT_FAILED = 3  # the warehouse is published; an export destination did not take it


def export_or_exit(settings: Settings, full: bool) -> None:
    from osvi_pipeline.runtime.instance import persistent_instance
    from osvi_pipeline.runtime.materialize import export_now

    result = export_now(settings, full, instance=persistent_instance(settings))
    if result is None:
        return
    failed = sorted({event.step_key.removeprefix("export_") for event in result.all_events
                     if event.is_step_failure and event.step_key})  # a step per destination
    if not result.success:
        console.print(f"[red]error:[/red] the export to {', '.join(failed) or 'a destination'} "
                      "failed (details above and in the Dagster UI); the warehouse itself is "
                      "published")
        raise typer.Exit(EXPORT_FAILED)
    names = ", ".join(settings.export_destination_list)
    console.print(f"exported {'every table' if full else 'the changes'} to {names}")


def day_range(day: str | None, start: str | None, end: str | None
              ) -> tuple[dt.date, dt.date] | None:
    try:
        if day is not None:
            if start or end:
                fail("use --date, or --start and --end, not both")
            return dt.date.fromisoformat(day), dt.date.fromisoformat(day)
        if start is None and end is None:
            return None
        first = dt.date.fromisoformat(start or end or "")
        last = dt.date.fromisoformat(end or start or "")
    except ValueError as exc:
        fail(f"dates are YYYY-MM-DD days in OSVI_TIMEZONE ({exc})")
    if last < first:
        fail(f"--end {last} is before --start {first}")
    return first, last
