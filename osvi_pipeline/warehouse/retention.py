"""Retention (OSVI_RETENTION_DAYS, `osvi forget --older-than`): per-call data older than N days
is deleted; the aggregate marts keep their rows for those days (docs/erasure.md).

Deleted: the landing files of UTC days before the cutoff, and the deliveries received before
it. The deletions are recorded as changes, so every per-call table (calls, field and wide
tables) drops those calls on the next build, the published copies with them, and the export
destinations take the deletions.

Kept: before anything is deleted, the rows the aggregate marts hold for the days before the
cutoff *plus a margin* (WINDOW_DAYS: the daily summary and the flags compare a day with the 7
before it) are written to `<OSVI_DATA_DIR>/retained/<mart>.parquet`, outside the working file.
After every build of such a mart, its rows for those days are replaced by the archived ones
(overlay_retained): whether the mart was rebuilt in full this run or the working file was
deleted and rebuilt from landing, its old days read exactly as they did before the deletion.
The margin's days are frozen as computed then: a delivery arriving later than N - 8 days for
one of them no longer changes its marts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import duckdb

from osvi_core.fs import fsync_dir
from osvi_core.landing_compaction import finish_compactions
from osvi_core.landing_store import LandingFile, LandingStore
from osvi_pipeline.lib.sql_names import quote_identifier, sql_text
from osvi_pipeline.warehouse.change_log import record_delivery_changes, transaction
from osvi_pipeline.warehouse.queries import scalar, table_exists

RETAINED_MARTS = ("campaign_daily", "campaign_outcomes", "campaign_field_rates", "daily_summary",
                  "campaign_flags", "agent_call_days", "agent_field_days",
                  "campaign_field_days")
WINDOW_DAYS = 8  # the trailing week and the previous day the marts compare a day with
DAY_COLUMN = "call_date"


@dataclass(frozen=True)
class RetentionPlan:
    cutoff: date  # UTC: deliveries received before its midnight, landing days before it
    frozen_until: date  # the marts' rows of call_date before this come from the archive
    landing_files: list[LandingFile]
    deliveries: int
    calls: int

    @property
    def landing_days(self) -> list[str]:
        return sorted({file.day for file in self.landing_files})


def plan_retention(con: duckdb.DuckDBPyConnection | None, store: LandingStore, days: int,
                   now: datetime | None = None) -> RetentionPlan:
    """What keeping `days` days would delete now (nothing is changed)."""
    cutoff = (now or datetime.now(UTC)).astimezone(UTC).date() - timedelta(days=days)
    files = [file for day in store.days() if day < cutoff.isoformat()
             for file in store.files(day)]
    deliveries = calls = 0
    if con is not None and table_exists(con, "main", "deliveries"):
        params: dict[str, object] = {"before": _midnight(cutoff)}
        deliveries = int(scalar(con, "select count(*) from deliveries "
                                     "where received_at < $before", params))
        calls = int(scalar(con, "select count(distinct call_log_id) from deliveries "
                                "where received_at < $before", params))
    return RetentionPlan(cutoff, cutoff + timedelta(days=WINDOW_DAYS), files, deliveries, calls)


def apply_retention(con: duckdb.DuckDBPyConnection, store: LandingStore, plan: RetentionPlan,
                    retained_dir: Path) -> None:
    """Archive the marts' old days, then delete the per-call data (each step repeatable: a
    run killed between them is finished by the next)."""
    for mart in RETAINED_MARTS:
        if table_exists(con, "main", mart):
            archive_mart(con, mart, plan.frozen_until, retained_dir)
    params: dict[str, object] = {"before": _midnight(plan.cutoff)}
    with transaction(con):
        if table_exists(con, "main", "deliveries"):
            old = "received_at < $before"
            record_delivery_changes(con, f"select * from deliveries where {old}", params)
            con.execute(f"delete from deliveries where {old}", params)
        if table_exists(con, "osvi_state", "loaded_files"):
            con.execute("delete from osvi_state.loaded_files where window_end <= $before",
                        params)
    for day in plan.landing_days:  # an interrupted compaction's hidden files go too
        finish_compactions(store, day)
    for file in plan.landing_files:
        store.replace(file, file.name, None)


def archive_mart(con: duckdb.DuckDBPyConnection, mart: str, frozen_until: date,
                 retained_dir: Path) -> None:
    """`<mart>.parquet`: the archived days as they were, plus the table's rows of the days
    before `frozen_until` not archived yet. Written whole under a temp name, then renamed."""
    retained_dir.mkdir(parents=True, exist_ok=True)
    archive = retained_dir / f"{mart}.parquet"
    temp = retained_dir / f".{mart}.{os.getpid()}.parquet.tmp"
    table = quote_identifier(mart)
    new_days = (f"select * from {table} where {DAY_COLUMN} < $until")
    if archive.exists():
        archived = f"read_parquet({sql_text(str(archive))})"
        new_days += f" and {DAY_COLUMN} not in (select {DAY_COLUMN} from {archived})"
        rows = f"select * from {archived} union all by name {new_days}"
    else:
        rows = new_days
    con.execute(f"copy ({rows}) to {sql_text(str(temp))} (format parquet)",
                {"until": frozen_until})
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, archive)
    fsync_dir(retained_dir)


def overlay_retained(con: duckdb.DuckDBPyConnection, mart: str, retained_dir: Path) -> int:
    """Replace the mart's rows of the archived days by the archive's; return rows restored."""
    archive = retained_dir / f"{mart}.parquet"
    if not archive.exists() or not table_exists(con, "main", mart):
        return 0
    archived = f"read_parquet({sql_text(str(archive))})"
    table = quote_identifier(mart)
    with transaction(con):
        con.execute(f"delete from {table} where {DAY_COLUMN} in "
                    f"(select distinct {DAY_COLUMN} from {archived})")
        con.execute(f"insert into {table} by name select * from {archived}")
    return int(scalar(con, f"select count(*) from {archived}"))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)
