"""`osvi forget`: erase subjects from every store the project keeps, in an order that a rerun can
finish after a crash at any point (docs/erasure.md).

1. A tombstone per subject in the ledger (osvi_core.erasure), before anything is touched: from
   then on no load brings the subject's earlier deliveries back. An unfinished one (a run
   killed) is resumed with its time.
2. The run lock (the working file's one writer) is taken: the pipeline's runs wait; the ingest
   keeps answering, as it never takes the lock.
3. The journal: segments of dead writers are rewritten without the subject's records; those of
   a running ingest are waited for (it publishes them to landing within seconds).
4. Landing: every file holding a subject's delivery is rewritten without it (a new name, then
   the old file removed).
5. The working file: the deliveries are deleted and recorded as changes.
6. A run of the pipeline rebuilds what the changes touch and publishes; then the working file is
   written anew (a deleted row's bytes stay in a DuckDB file's freed blocks), both published
   copies are removed and the warehouse is published again from it (and to OSVI_PUBLISH_URL).
7. The daily reports of the affected days are written again; the export destinations take the
   deletions; the ledger records the erasure as done.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from osvi_core.erasure import ErasureLedger, Subject, Tombstone
from osvi_core.fs import exclusive_lock, process_alive
from osvi_core.landing_compaction import finish_compactions
from osvi_core.landing_store import landing_store_for
from osvi_core.settings import Settings
from osvi_pipeline.warehouse.erasure import Found
from osvi_pipeline.warehouse.queries import table_exists
from osvi_pipeline.warehouse.retention import RetentionPlan

JOURNAL_WAIT_SECONDS = 60.0  # beyond a few segment periods: the ingest is not publishing


class ForgetIncomplete(Exception):
    """A store could not be erased now; a rerun finishes the job."""


@dataclass
class ForgetReport:
    dry_run: bool
    journal_records: int = 0
    journal_segments: int = 0
    landing_deliveries: int = 0
    landing_files: int = 0
    landing_bytes_written: int = 0
    warehouse_calls: int = 0
    warehouse_deliveries: int = 0
    working_file_rewritten: bool = False
    published: bool = False
    publish_url: str | None = None
    report_days: list[str] = field(default_factory=list)
    export_destinations: list[str] = field(default_factory=list)
    export_files_pruned: int = 0  # Iceberg files of earlier snapshots deleted
    resumed: int = 0  # subjects whose interrupted erasure this run finished
    per_subject: list[tuple[int, int]] = field(default_factory=list)  # (calls, deliveries)

    @property
    def found_anything(self) -> bool:
        return bool(self.journal_records or self.landing_deliveries or self.warehouse_deliveries)


def _working_file(settings: Settings) -> tuple[Path, dict[str, Any]]:
    """The pipeline's working file and the connection config its runs open it with."""
    from osvi_pipeline.defs.resources import build_resources

    warehouse = build_resources(settings)["duckdb"]
    return (Path(warehouse.database),  # type: ignore[attr-defined]
            dict(warehouse.connection_config))  # type: ignore[attr-defined]


def forget(settings: Settings, subjects: Sequence[Subject], reason: str | None, dry_run: bool,
           on_step: Callable[[str], None] = lambda step: None) -> ForgetReport:
    from osvi_pipeline.warehouse.erasure import (
        delete_from_warehouse,
        find_in_landing,
        find_in_warehouse,
        rewrite_landing,
    )

    layout = settings.layout
    ledger = ErasureLedger(layout.erasure_dir)
    report = ForgetReport(dry_run)
    tombstones = [] if dry_run else _begin(ledger, subjects, reason, report)
    working, config = _working_file(settings)
    store = landing_store_for(settings)
    affected_days: set[date] = set()
    with exclusive_lock(layout.pipeline_run_lock_path,
                        lambda: on_step("waiting for the pipeline's run to finish")):
        found = Found()
        on_step("the journal")
        _erase_journal(layout.journal_dir, subjects, dry_run, report, found)
        on_step("landing")
        if not dry_run:  # a compaction interrupted by a crash: its hidden files hold rows too
            for day in store.days():
                finish_compactions(store, day)
        with duckdb.connect(config={"memory_limit": settings.duckdb_memory_limit}) as scan:
            hits = find_in_landing(scan, store, subjects)
        report.landing_deliveries = len(hits.found.all_deliveries())
        report.landing_files = len(hits.files)
        rewrites = [] if dry_run else rewrite_landing(store, hits)
        report.landing_bytes_written = sum(rewrite.bytes_written for rewrite in rewrites)
        found.merge(hits.found)
        if working.exists():
            on_step("the working file")
            with duckdb.connect(str(working), config=config) as con:
                in_warehouse = find_in_warehouse(con, subjects, hits.found)
                found.merge(in_warehouse)
                affected_days = _days_of(con, in_warehouse.all_calls(),
                                         in_warehouse.all_deliveries())
                report.warehouse_calls = len(in_warehouse.all_calls())
                report.warehouse_deliveries = len(in_warehouse.all_deliveries())
                if not dry_run:
                    delete_from_warehouse(con, in_warehouse, rewrites, store)
    report.per_subject = [(len(found.calls.get(index, ())), len(found.deliveries.get(index, ())))
                          for index in range(len(subjects))]
    if dry_run:
        return report
    if not (report.found_anything or report.resumed):  # recorded; the next run publishes it
        for tombstone in tombstones:
            ledger.finish(tombstone, 0, 0)
        return report
    if working.exists():
        _rebuild_and_republish(settings, working, config, affected_days, report, on_step)
    for tombstone, (calls, deliveries) in zip(tombstones, report.per_subject, strict=True):
        ledger.finish(tombstone, calls, deliveries)
    if working.exists():
        on_step("publishing the erasure record")
        _publish(settings, on_step)
    return report


def _begin(ledger: ErasureLedger, subjects: Sequence[Subject], reason: str | None,
           report: ForgetReport) -> list[Tombstone]:
    tombstones = []
    for subject in subjects:
        unfinished = ledger.unfinished(ledger.subject_hash(subject))
        if unfinished is not None:
            report.resumed += 1
            tombstones.append(unfinished)
        else:
            tombstones.append(ledger.begin(subject, reason))
    return tombstones


def _erase_journal(journal_dir: Path, subjects: Sequence[Subject], dry_run: bool,
                   report: ForgetReport, found: Found) -> None:
    """Segments of a dead writer: rewritten without the subjects' records. A running ingest's:
    waited for until published (they are then in landing, erased next)."""
    from ingest_api.journal import erase_from_segment

    patterns = [re.compile(subject.text_pattern()) for subject in subjects]

    def owned(record: dict[str, object]) -> bool:
        text = " ".join(str(record.get(name) or "") for name in
                        ("path", "query", "headers", "body"))
        call = record.get("call_log_id")
        matched = [index for index, (subject, pattern) in enumerate(zip(subjects, patterns,
                                                                        strict=True))
                   if (subject.kind == "call_id" and call == subject.canonical)
                   or pattern.search(text)]
        for index in matched:
            found.add(index, str(record["delivery_id"]), None if call is None else str(call))
        return bool(matched)

    segments = sorted(journal_dir.glob("*.journal")) if journal_dir.is_dir() else []
    deadline = time.monotonic() + JOURNAL_WAIT_SECONDS
    for segment in segments:
        pid = int(segment.name.split("-", 1)[0]) if segment.name[0].isdigit() else -1
        if process_alive(pid) and not dry_run:
            while segment.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            if segment.exists():
                raise ForgetIncomplete(
                    f"the ingest (pid {pid}) has not published its journal segment "
                    f"{segment.name} in {JOURNAL_WAIT_SECONDS:.0f} s; run osvi forget again "
                    "once it does (the tombstone already keeps the pipeline from loading it)")
            continue
        if dry_run:
            from ingest_api.journal import decode_records
            from osvi_core.landing import LANDING_SCHEMA

            records, _ = decode_records(segment.read_bytes()) if segment.exists() else ([], 0)
            removed = sum(owned(dict(zip(LANDING_SCHEMA.names, record, strict=False)))
                          for record in records)
        else:
            removed = erase_from_segment(segment, owned)
        if removed:
            report.journal_records += removed
            report.journal_segments += 1


def _days_of(con: duckdb.DuckDBPyConnection, calls: set[str], deliveries: set[str]
             ) -> set[date]:
    """The OSVI_TIMEZONE days whose daily report can mention these calls."""
    days: set[date] = set()
    if calls and table_exists(con, "main", "calls"):
        days |= {day for (day,) in con.execute(
            "select distinct call_date from calls where call_log_id in "
            "(select unnest($ids::varchar[]))", {"ids": sorted(calls)}).fetchall() if day}
    if deliveries and table_exists(con, "main", "deliveries"):
        days |= {day for (day,) in con.execute(
            "select distinct received_day from deliveries where delivery_id in "
            "(select unnest($ids::varchar[]))", {"ids": sorted(deliveries)}).fetchall() if day}
    return days


def _rebuild_and_republish(settings: Settings, working: Path, config: dict[str, Any],
                           days: set[date], report: ForgetReport,
                           on_step: Callable[[str], None]) -> None:
    from osvi_pipeline.runtime.instance import persistent_instance
    from osvi_pipeline.runtime.materialize import export_now, materialize_days
    from osvi_pipeline.warehouse.published_copy import COPY_NAMES
    from osvi_pipeline.warehouse.storage_format import rewrite_file

    instance = persistent_instance(settings)
    today = datetime.now(settings.tz).date()
    on_step("rebuilding the tables the erased calls fed")
    run = materialize_days(settings, today, today, instance=instance, only_new_files=True)
    if not run.success:
        raise ForgetIncomplete("the pipeline's run failed (details in the Dagster UI); run "
                               "osvi forget again")
    on_step("writing the working file anew")
    with exclusive_lock(settings.layout.pipeline_run_lock_path):
        rewrite_file(working, config)
        report.working_file_rewritten = True
        _rewrite_reports(settings, working, config, days, report)
        for name in COPY_NAMES:  # remade from the rewritten file by the next publication
            working.with_name(name).unlink(missing_ok=True)
            Path(f"{working.with_name(name)}.wal").unlink(missing_ok=True)
    report.published = True
    report.publish_url = settings.publish_url
    if settings.export_destination_list:
        on_step("sending the deletions to the export destinations")
        exported = export_now(settings, instance=instance)
        if exported is not None and not exported.success:
            raise ForgetIncomplete("an export destination did not take the deletions (details "
                                   "in the Dagster UI); run osvi forget again")
        report.export_destinations = settings.export_destination_list
        report.export_files_pruned = _prune_export_history(settings)


def _prune_export_history(settings: Settings) -> int:
    """Iceberg tables keep their earlier snapshots' files: expired and deleted."""
    from osvi_pipeline.defs.assets.export import destinations
    from osvi_pipeline.warehouse.export import prune_table_history, use_data_dir

    use_data_dir(settings.data_dir)
    return sum(prune_table_history(destination) for destination in destinations(settings))


def _publish(settings: Settings, on_step: Callable[[str], None]) -> None:
    from osvi_pipeline.runtime.instance import persistent_instance
    from osvi_pipeline.runtime.materialize import publish_now

    run = publish_now(settings, instance=persistent_instance(settings))
    if not run.success:
        raise ForgetIncomplete("publishing the warehouse failed (details in the Dagster UI); "
                               "run osvi forget again")


def _rewrite_reports(settings: Settings, working: Path, config: dict[str, Any],
                     days: set[date], report: ForgetReport) -> None:
    """Each affected day's report files written again from the tables without the erased
    calls (removed when no call of that day is left)."""
    from osvi_pipeline.warehouse.daily_report import load_report, write_report_files

    directory = settings.layout.daily_reports_dir
    existing = [day for day in sorted(days) if (directory / f"{day.isoformat()}.md").exists()
                or (directory / f"{day.isoformat()}.html").exists()]
    if not existing:
        return
    with duckdb.connect(str(working), config=config) as con:
        for day in existing:
            daily = load_report(con, day)
            if daily is None:
                for suffix in (".md", ".html"):
                    (directory / f"{day.isoformat()}{suffix}").unlink(missing_ok=True)
            else:
                write_report_files(daily, directory)
            report.report_days.append(day.isoformat())


def retain(settings: Settings, days: int, dry_run: bool) -> RetentionPlan:
    """`osvi forget --older-than N`: what OSVI_RETENTION_DAYS=N deletes, now (or only shown)."""
    from osvi_pipeline.runtime.instance import persistent_instance
    from osvi_pipeline.runtime.materialize import export_now, materialize_days
    from osvi_pipeline.warehouse.retention import apply_retention, plan_retention

    working, config = _working_file(settings)
    store = landing_store_for(settings)
    with exclusive_lock(settings.layout.pipeline_run_lock_path):
        if not working.exists():
            if not dry_run:  # the marts must be archived before their calls go
                raise ForgetIncomplete("nothing is materialized yet: run `osvi materialize` "
                                       "first, so the marts keep the days retention deletes")
            return plan_retention(None, store, days)
        with duckdb.connect(str(working), config=config) as con:
            plan = plan_retention(con, store, days)
            if not dry_run:
                apply_retention(con, store, plan, settings.layout.retained_dir)
    if dry_run:
        return plan
    instance = persistent_instance(settings)
    today = datetime.now(settings.tz).date()
    if not materialize_days(settings, today, today, instance=instance,
                            only_new_files=True).success:
        raise ForgetIncomplete("the pipeline's run failed (details in the Dagster UI); the "
                               "deliveries are deleted, run `osvi materialize` to rebuild")
    if settings.export_destination_list:
        exported = export_now(settings, instance=instance)
        if exported is not None and not exported.success:
            raise ForgetIncomplete("an export destination did not take the deletions; run "
                                   "`osvi export`")
    return plan
