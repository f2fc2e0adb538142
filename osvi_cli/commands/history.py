"""`osvi import`: past OSVI bodies stored as deliveries, exactly as the endpoint would."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from osvi_cli.console import console, errors, fail, settings_or_exit
from osvi_core.erasure import ErasureLedger, TombstoneIndex
from osvi_core.integrations import IntegrationsError, load_integrations


def import_(
    paths: Annotated[list[str], typer.Argument(
        help="JSON Lines files, .json files (one body or an array), directories of them, or - "
             "for standard input (JSON Lines); .gz files are read gunzipped.")],
    integration: Annotated[str, typer.Option(help="The integration the bodies belong to "
                                                  "(as in /webhooks/NAME).")],
    received_at_field: Annotated[str | None, typer.Option(
        help="Dotted path of each body's receipt time (ISO 8601; without an offset it is "
             "OSVI_TIMEZONE time). Default: the file's modification time.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Count what would be stored; write nothing.")]
    = False,
) -> None:
    """Store past OSVI bodies as deliveries, exactly as the endpoint would (idempotent)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from osvi_cli.history_import import HistoryImportError, find_sources, import_history
    from osvi_core.integrations import NAME_PATTERN
    from osvi_core.landing_store import landing_store_for

    settings = settings_or_exit()
    integrations_path = settings.layout.integrations_path
    if integrations_path is not None:
        try:
            known = load_integrations(integrations_path)
        except IntegrationsError as exc:
            fail(str(exc))
        if integration not in known:
            fail(f"--integration {integration!r} is not in {integrations_path} "
                 f"({', '.join(known)})")
    elif not re.fullmatch(NAME_PATTERN, integration):
        fail(f"--integration {integration!r}: letters, digits, '.', '_' and '-' only")
    try:
        sources = find_sources(paths)
    except HistoryImportError as exc:
        fail(str(exc))
    sizes = [source.size() for source in sources]
    total = None if None in sizes else sum(size or 0 for size in sizes)
    with Progress(*Progress.get_default_columns()[:1], BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=errors, disable=not errors.is_terminal,
                  transient=True) as progress:
        task = progress.add_task("importing", total=total)
        report = import_history(sources, integration, landing_store_for(settings),
                                timezone=settings.timezone, received_at_field=received_at_field,
                                dry_run=dry_run, progress=lambda done: progress.advance(task, done),
                                erased=TombstoneIndex(ErasureLedger(settings.layout.erasure_dir)),
                                scratch_dir=settings.layout.duckdb_temp_dir)
    for message in report.errors:
        errors.print(message, highlight=False, markup=False)
    if report.unparseable > len(report.errors):
        errors.print(f"... and {report.unparseable - len(report.errors)} more unparseable")
    verb = "would store" if dry_run else "stored"
    console.print(f"{report.bodies} bodies read: {verb} {report.stored} new deliveries, "
                  f"{report.already_imported} imported before, {report.unparseable} unparseable "
                  "(kept with parse_error)"
                  + (f", {report.erased} of erased people left out (osvi forget)"
                     if report.erased else ""), highlight=False)
    if report.time_from_file:
        console.print(f"{report.time_from_file} bodies had no usable {received_at_field}: "
                      "their file's modification time was used", highlight=False)
    if report.days:
        from osvi_pipeline.lib.local_days import local_days_of_utc_day

        first = local_days_of_utc_day(dt.date.fromisoformat(min(report.days)),
                                      settings.timezone)[0]
        last = min(local_days_of_utc_day(dt.date.fromisoformat(max(report.days)),
                                         settings.timezone)[-1],
                   dt.datetime.now(ZoneInfo(settings.timezone)).date())
        console.print(f"load them into the warehouse: osvi materialize --start {first} "
                      f"--end {last}", highlight=False)
    if report.unparseable:
        raise typer.Exit(1)
