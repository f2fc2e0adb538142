"""Compaction of landing days (osvi_core.landing_compaction has the steps and why each
state is safe to read): the files every load of the day has read become a few parts sorted by
receipt time, and the per-file watermark (osvi_state.loaded_files) is pointed at the parts with
each window's row counts checked equal, so the next load by file reads nothing twice.

Runs under the pipeline's run lock (the warehouse resource holds it): no load lists a day
between a step and the next except after a crash, and `visible` covers that."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from osvi_core.landing_compaction import (
    Manifest,
    finish_compactions,
    is_compacted,
    plan_manifest,
)
from osvi_core.landing_store import LandingStore
from osvi_pipeline.lib.compaction_plan import group_hours, loaded_everywhere
from osvi_pipeline.warehouse.change_log import transaction
from osvi_pipeline.warehouse.landing_files import register_landing, utc_days_of_window
from osvi_pipeline.warehouse.queries import table_exists

# At ~1.5 kB a delivery, a part of 500,000 is ~150 MB of Parquet: held once in memory to be
# published (a bucket takes whole objects), and a few per day at 100 deliveries/s.
PART_ROWS = 500_000
# A UTC day is compacted this long after it ends: a replica's last segments are published.
# A file published later still (a backlog) stays beside the parts until the next compaction.
CLOSED_AFTER = timedelta(hours=1)
# Worth merging: a day with at least this many small files (a live day publishes one a second
# locally, one per 15 s and replica on a bucket; `osvi import` writes a few large ones a day).
MIN_FILES = 16
SMALL_FILE_BYTES = 64 * 2**20
# The open day (today's folder, listed by the sensor and every micro-batch: 0.9 s at 86,400
# files, docs/benchmarks.md) is compacted by the hourly schedule once this many loaded files
# published OPEN_DAY_SETTLE ago or more have gathered; its parts are merged again only once
# the day closes (merging them every hour would rewrite the day so far each time).
OPEN_DAY_FILES = 1_000
OPEN_DAY_SETTLE = timedelta(minutes=10)

HOURLY_ROWS = """
select floor((epoch(received_at) - $day_epoch) / 3600)::integer as hour, count(*)
from read_parquet($files, union_by_name = true) group by hour
"""
# Every column the files have (optional ones and other producers' included), by name.
WRITE_PART = """
copy (select * from read_parquet($files, union_by_name = true)
      where received_at >= coalesce($lower::timestamptz, '-infinity'::timestamptz)
        and received_at < coalesce($upper::timestamptz, 'infinity'::timestamptz)
      order by received_at, delivery_id)
to $out (format parquet, compression zstd, row_group_size 100000)
"""
PART_ROWS_IN_WINDOW = """
select listed.file, count(landed.filename)
from unnest($parts) as listed(file)
left join (select filename from read_parquet($parts, union_by_name = true, filename = true)
           where received_at >= $start and received_at < $end) as landed
       on landed.filename = listed.file
group by listed.file
"""


@dataclass(frozen=True)
class DayCompaction:
    day: str
    files_merged: int
    parts: int
    rows: int
    bytes_written: int
    finished_earlier: int  # an interrupted attempt's compactions completed or undone first


class _CountsDiffer(Exception):
    """A window's rows in the parts differ from what it loaded from the sources."""


def days_to_compact(start: datetime, end: datetime, now: datetime) -> list[tuple[str, bool]]:
    """The UTC days overlapping [start, end) that have begun, each with whether it is closed
    (ended CLOSED_AFTER ago or more)."""
    begun = [date.fromisoformat(day) for day in utc_days_of_window(start, end)
             if _midnight(date.fromisoformat(day)) <= now]
    return [(day.isoformat(), _midnight(day + timedelta(days=1)) + CLOSED_AFTER <= now)
            for day in begun]


def compact(con: duckdb.DuckDBPyConnection, store: LandingStore, day: str, closed: bool,
            scratch: Path, now: datetime) -> DayCompaction:
    """A closed day's small files, or an open day's settled ones (OPEN_DAY_FILES)."""
    if closed:
        return compact_day(con, store, day, scratch)
    return compact_day(con, store, day, scratch, min_files=OPEN_DAY_FILES,
                       settled_before=now - OPEN_DAY_SETTLE)


def compact_day(con: duckdb.DuckDBPyConnection, store: LandingStore, day: str,
                scratch: Path, part_rows: int = PART_ROWS, min_files: int = MIN_FILES,
                settled_before: datetime | None = None) -> DayCompaction:
    """Merge the day's small files that every load of the day has read into parts, when
    there are `min_files` of them or more. `settled_before` (an open day): only the files
    published before it, and not the parts of earlier compactions."""
    finished = finish_compactions(store, day, lambda done: repoint(con, store, day, done))
    files = store.files(day)
    start = _midnight(date.fromisoformat(day))
    end = start + timedelta(days=1)
    mergeable = loaded_everywhere(_loaded_windows(con, start, end), start, end,
                                  [file.path for file in files])
    settled_ns = None if settled_before is None else settled_before.timestamp() * 1e9
    chosen = [file for file in files
              if file.path in mergeable and file.size < SMALL_FILE_BYTES
              and (settled_ns is None
                   or (file.modified_ns < settled_ns and not is_compacted(file.name)))]
    if len(chosen) < max(min_files, 2):
        return DayCompaction(day, 0, 0, 0, 0, len(finished))
    register_landing(con, store)
    paths = [file.path for file in chosen]
    hourly = dict(con.execute(HOURLY_ROWS, {"files": paths,
                                            "day_epoch": start.timestamp()}).fetchall())
    hours = group_hours(hourly, part_rows)
    manifest = plan_manifest([file.name for file in chosen], len(hours))
    store.write_manifest(day, manifest)  # before any part: a crash leaves a known state
    scratch.mkdir(parents=True, exist_ok=True)
    written = 0
    for index, ((first, last), name) in enumerate(zip(hours, manifest.parts, strict=True)):
        temp = scratch / f".{name}.tmp"
        bounds = {"lower": None if index == 0 else start + timedelta(hours=first),
                  "upper": None if index == len(hours) - 1 else start + timedelta(hours=last)}
        try:
            con.execute(WRITE_PART, {"files": paths, "out": str(temp), **bounds})
            data = temp.read_bytes()
        finally:
            temp.unlink(missing_ok=True)
        store.publish(day, name, data)  # a repeated attempt: the same name, the same rows
        written += len(data)
    completed = finish_compactions(store, day, lambda done: repoint(con, store, day, done))
    if not all(item.completed for item in completed):
        raise RuntimeError(f"compaction of landing day {day}: a window's row count differs "
                           "between its sources and the parts; the parts were removed")
    return DayCompaction(day, len(chosen), len(hours), sum(hourly.values()), written,
                         len(finished))


def repoint(con: duckdb.DuckDBPyConnection, store: LandingStore, day: str,
            manifest: Manifest) -> bool:
    """Each window that loaded the sources now records the parts, with their rows in it; one
    transaction, and only when every window's rows are the same (else False: nothing changes,
    and the compaction is undone)."""
    if not table_exists(con, "osvi_state", "loaded_files"):
        return True
    sources = [store.path_of(day, name) for name in manifest.sources]
    parts = [store.path_of(day, name) for name in manifest.parts]
    register_landing(con, store)
    try:
        with transaction(con):
            windows = con.execute(
                "select window_start, window_end, sum(rows) from osvi_state.loaded_files "
                "where path in (select unnest($sources::varchar[])) group by all",
                {"sources": sources}).fetchall()
            for window_start, window_end, rows in windows:
                window = {"start": window_start, "end": window_end}
                counts = con.execute(PART_ROWS_IN_WINDOW, {**window, "parts": parts}).fetchall()
                if sum(count for _, count in counts) != rows:
                    raise _CountsDiffer
                con.execute("delete from osvi_state.loaded_files where window_start = $start "
                            "and window_end = $end and path in "
                            "(select unnest($sources::varchar[]))",
                            {**window, "sources": sources})
                con.executemany("insert into osvi_state.loaded_files values "
                                "($start, $end, $path, $rows, now())",
                                [{**window, "path": path, "rows": count}
                                 for path, count in counts])
    except _CountsDiffer:
        return False
    return True


def _loaded_windows(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime
                    ) -> dict[tuple[datetime, datetime], set[str]]:
    """The files each load overlapping [start, end) recorded."""
    if not table_exists(con, "osvi_state", "loaded_files"):
        return {}
    loaded: dict[tuple[datetime, datetime], set[str]] = {}
    for window_start, window_end, path in con.execute(
            "select window_start, window_end, path from osvi_state.loaded_files "
            "where window_start < $end and window_end > $start",
            {"start": start, "end": end}).fetchall():
        loaded.setdefault((window_start, window_end), set()).add(path)
    return loaded


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
