"""`osvi forget`: erase people (by phone number or call id) from every store, or show what
retention would delete (docs/erasure.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from osvi_cli.console import console, dagster_home_or_exit, fail, settings_or_exit
from osvi_core.erasure import InvalidSubject, Subject, call_id_subject, normalize_phone

INCOMPLETE = 1  # something could not be erased now: running the command again finishes it


def forget(
    phone: Annotated[list[str] | None, typer.Option(
        "--phone", help="A phone number, with its country code (+91 98765 43210); "
                        "repeatable.")] = None,
    call_id: Annotated[list[str] | None, typer.Option(
        "--call-id", help="A call_log_id; repeatable.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Show what would be removed from each store; change nothing.")]
    = False,
    reason: Annotated[str | None, typer.Option(
        "--reason", help="Why (a ticket, 'GDPR Art. 17 request'): kept in `erasures`. Never "
                         "put the number itself here.")] = None,
    older_than: Annotated[int | None, typer.Option(
        "--older-than", min=1, help="Instead of people: the per-call data older than this many "
                                    "days (what OSVI_RETENTION_DAYS deletes).")] = None,
) -> None:
    """Erase every call of these phone numbers or call ids from landing, the journal, the
    warehouse files, OSVI_PUBLISH_URL, the daily reports and the export destinations; print
    what was removed from each (never the number or id). Running it again finds nothing."""
    settings = settings_or_exit()
    if older_than is not None:
        if phone or call_id:
            fail("--older-than erases by age, --phone and --call-id by person: not both")
        _retention(settings, older_than, dry_run)
        return
    try:
        subjects = [normalize_phone(value) for value in phone or []] + \
                   [call_id_subject(value) for value in call_id or []]
    except InvalidSubject as error:
        fail(str(error))
    if not subjects:
        fail("name at least one --phone or --call-id (or --older-than N)")
    if not dry_run:
        dagster_home_or_exit(settings)
    _erase(settings, subjects, reason, dry_run)


def _erase(settings: object, subjects: list[Subject], reason: str | None,
           dry_run: bool) -> None:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from osvi_cli.forget import ForgetIncomplete, forget
    from osvi_core.settings import Settings

    assert isinstance(settings, Settings)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("starting", total=None)
        try:
            report = forget(settings, subjects, reason, dry_run,
                            on_step=lambda step: progress.update(task, description=step))
        except ForgetIncomplete as error:
            console.print(f"[red]incomplete:[/red] {error}", highlight=False)
            raise typer.Exit(INCOMPLETE) from None
    verb = "would remove" if dry_run else "removed"
    for index, (subject, (calls, deliveries)) in enumerate(
            zip(subjects, report.per_subject, strict=True), start=1):
        console.print(f"{subject.label} #{index}: {calls} calls, {deliveries} deliveries")
    lines = [
        f"journal: {verb} {report.journal_records} deliveries from "
        f"{report.journal_segments} unpublished segments",
        f"landing ({settings.landing_location}): {verb} {report.landing_deliveries} deliveries"
        f" from {report.landing_files} files" + (
            f" (rewritten: {report.landing_bytes_written:,} bytes)" if not dry_run else ""),
        f"working file: {verb} {report.warehouse_calls} calls and "
        f"{report.warehouse_deliveries} deliveries",
    ]
    if not dry_run and report.working_file_rewritten:
        lines += [
            "working file, published copies and OSVI_WAREHOUSE: written anew (no freed page "
            "holds the erased rows)",
            *([f"OSVI_PUBLISH_URL: uploaded again ({report.publish_url})"]
              if report.publish_url else []),
            f"daily reports: {len(report.report_days)} rewritten"
            + (f" ({', '.join(report.report_days)})" if report.report_days else ""),
            "export destinations: " + (", ".join(report.export_destinations) + " took the "
                                       "deletions" if report.export_destinations else "none")
            + (f" (Iceberg: {report.export_files_pruned} files of earlier snapshots deleted)"
               if report.export_files_pruned else ""),
            "Dagster run history: holds masked previews only, nothing to erase",
        ]
    for line in lines:
        console.print(line, highlight=False)
    if not report.found_anything and not report.resumed:
        console.print("nothing found: no store holds these subjects" + (
            "" if dry_run else " (their tombstones stand: earlier deliveries never load again)"))
    elif report.resumed:
        console.print(f"finished {report.resumed} erasure(s) an earlier run left unfinished")


def _retention(settings: object, days: int, dry_run: bool) -> None:
    from osvi_cli.forget import ForgetIncomplete, retain
    from osvi_core.settings import Settings

    assert isinstance(settings, Settings)
    if not dry_run:
        dagster_home_or_exit(settings)
    try:
        plan = retain(settings, days, dry_run)
    except ForgetIncomplete as error:
        console.print(f"[red]incomplete:[/red] {error}", highlight=False)
        raise typer.Exit(INCOMPLETE) from None
    verb = "would delete" if dry_run else "deleted"
    days_text = (f"{plan.landing_days[0]}..{plan.landing_days[-1]}" if plan.landing_days
                 else "none")
    console.print(f"received before {plan.cutoff} (UTC):", highlight=False)
    console.print(f"landing: {verb} {len(plan.landing_files)} files (days {days_text})",
                  highlight=False)
    console.print(f"working file: {verb} {plan.deliveries} deliveries of {plan.calls} calls "
                  "(their rows in every per-call table, the published warehouse and the export "
                  "destinations follow)", highlight=False)
    console.print(f"aggregate marts: {'would keep' if dry_run else 'kept'} their rows of those "
                  f"days (frozen before {plan.frozen_until}, archived in "
                  f"{settings.layout.retained_dir})", highlight=False)
