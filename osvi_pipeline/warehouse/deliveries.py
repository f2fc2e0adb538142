"""The `deliveries` table: DDL, and the idempotent load of a time window from landing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from duckdb import DuckDBPyConnection

from osvi_core.erasure import ErasureLedger
from osvi_core.integrations import load_integrations
from osvi_pipeline.warehouse.change_log import ensure_state, record_delivery_changes
from osvi_pipeline.warehouse.erasure import load_tombstones, tombstoned
from osvi_pipeline.warehouse.landing_files import LandingInventory
from osvi_pipeline.warehouse.queries import scalar
from osvi_pipeline.warehouse.template_deliveries import normalize_template_deliveries

# The bodies are most of the table: ZSTD stores their JSON text in a third of the space of
# DuckDB's default string encoding, and writes it faster (1M deliveries: 58 MB in 1.9 s vs
# 179 MB in 3.4 s; a full scan reads 0.2 s slower). The snapshot copy every run makes shrinks
# with it. A column's compression cannot be changed in place: older warehouses keep theirs.
CREATE_DELIVERIES = """
create table if not exists deliveries (
    delivery_id varchar not null,
    received_at timestamptz not null,
    received_day date not null,
    integration varchar not null,
    method varchar not null,
    path varchar not null,
    query varchar,
    headers varchar not null,
    body varchar using compression zstd,
    body_sha256 varchar,
    call_log_id varchar,
    parse_error varchar,
    body_base64 varchar,
    normalized_body varchar using compression zstd,  -- the Auto body a template stands for
    synthetic_id boolean,     -- call_log_id derived from integration + body hash
    kind varchar              -- 'call_status' for per-call status webhooks, else null
)
"""
UPGRADE_DELIVERIES = [
    "alter table deliveries add column if not exists normalized_body varchar "
    "using compression zstd",
    "alter table deliveries add column if not exists synthetic_id boolean",
    "alter table deliveries add column if not exists kind varchar",
]

# Delete-then-insert of the window in one transaction: re-running a day or a backfill leaves
# exactly the landing rows, never duplicates.
DELETE_WINDOW = "delete from deliveries where received_at >= $start and received_at < $end"
LOCAL_DAY = "timezone($tz, received_at)::date"  # the OSVI_TIMEZONE day of a delivery
# Landing is read by column name (union_by_name): files of earlier versions or of other
# producers may lack an optional column or carry columns of their own (ignored).
INSERT_WINDOW = f"""
insert into deliveries by name
select * exclude (received_at), received_at::timestamptz as received_at,
       {LOCAL_DAY} as received_day
from (select {{columns}} from read_parquet($files, union_by_name = true))
where received_at >= $start and received_at < $end {{erased}} {{new_only}}
"""
# Appending new files, a row whose delivery is already loaded is a copy (a landing file being
# rewritten by `osvi forget` when it was killed: the new file is there, the old one not yet
# removed), not a second delivery.
NOT_LOADED = """and delivery_id not in (
    select delivery_id from deliveries where received_at >= $start and received_at < $end)"""
# Rows loaded while OSVI_TIMEZONE was another zone (a scan of one column: ~25 ms at 300,000).
MISLABELED = f"received_day <> {LOCAL_DAY}"
COUNT_WINDOW = "select count(*) from deliveries where received_at >= $start and received_at < $end"


# Which landing files each window's rows came from, and how many rows each gave it: the
# per-file watermark of incremental loads (a run of the landing sensor loads only the files
# not listed here), and the landing side of the rows-equal check without reading landing again.
# The OSVI_TIMEZONE every delivery's received_day is in (relabel_days).
CREATE_LABEL_ZONE = "create table if not exists osvi_state.label_zone (timezone varchar not null)"
CREATE_LOADED_FILES = """
create table if not exists osvi_state.loaded_files (
    window_start timestamptz not null, window_end timestamptz not null,
    path varchar not null, rows bigint not null, loaded_at timestamptz not null
)
"""
LOADED_FILES = """
select path, rows from osvi_state.loaded_files
where window_start = $start and window_end = $end
"""
# A replaced window voids the record of every window overlapping it (a backfilled range and
# its days): their next load by file starts with a replacement.
FORGET_WINDOW_FILES = """
delete from osvi_state.loaded_files where window_start < $end and window_end > $start
"""
# How many of the window's rows each file gave (reads two columns of the files).
RECORD_FILES = """
insert into osvi_state.loaded_files
select $start, $end, listed.file, count(landed.filename), now()
from unnest($files) as listed(file)
left join (select filename from read_parquet($files, union_by_name = true, filename = true)
           where received_at >= $start and received_at < $end {erased}) as landed
       on landed.filename = listed.file
group by listed.file
"""
# The window's rows that a tombstone kept out, by file (the load then sweeps them from landing).
ERASED_ROWS = """
select filename, delivery_id from read_parquet($files, union_by_name = true, filename = true)
where received_at >= $start and received_at < $end and {tombstoned}
"""
NEW_ROWS = """
select * from deliveries
where received_at >= $start and received_at < $end
  and delivery_id in (select delivery_id from read_parquet($files, union_by_name = true))
"""


def record_window_changes(con: DuckDBPyConnection, params: dict[str, object]) -> None:
    """The days, deliveries and calls of the window's rows, for the incremental models
    downstream."""
    record_delivery_changes(con, "select * from deliveries where received_at >= $start "
                                 "and received_at < $end", params)


def relabel_days(con: DuckDBPyConnection, timezone: str) -> int:
    """Move deliveries loaded under another OSVI_TIMEZONE to their day in this one; return how
    many moved. Without it, a changed zone applied only to the days loaded again afterwards:
    older days kept the old zone's boundaries, and calls near midnight their old call_date."""
    params: dict[str, object] = {"tz": timezone}
    con.execute(CREATE_LABEL_ZONE)
    if scalar(con, "select count(*) from osvi_state.label_zone where timezone = $tz", params):
        return 0  # every delivery was labelled in this zone (a scan of them all cost 0.4 s at 10M)
    moved = int(scalar(con, f"select count(*) from deliveries where {MISLABELED}", params))
    con.execute("delete from osvi_state.label_zone")
    con.execute("insert into osvi_state.label_zone values ($tz)", params)
    if moved:  # the old days, the new days and the calls all feed the models downstream
        con.execute("create or replace temp table _relabeled as select delivery_id from "
                    f"deliveries where {MISLABELED}", params)
        relabeled = ("select * from deliveries where delivery_id in "
                     "(select delivery_id from _relabeled)")
        record_delivery_changes(con, relabeled)
        con.execute(f"update deliveries set received_day = {LOCAL_DAY} where {MISLABELED}",
                    params)
        record_delivery_changes(con, relabeled)
        con.execute("drop table _relabeled")
    return moved


@dataclass(frozen=True)
class WindowLoad:
    loaded: int  # rows of the window in `deliveries` after the load
    landed: int  # rows of the window in the landing files (counted as they were loaded)
    relabeled: int  # deliveries moved to their day in a changed OSVI_TIMEZONE
    ambiguous: dict[str, list[str]]  # template slots that could not be split, per integration
    new_files: int  # landing files read by this load
    incremental: bool  # only new files were read (else the window was replaced)
    # landing file -> delivery ids a tombstone kept out (osvi forget), to be swept from it
    erased: dict[str, set[str]] = field(default_factory=dict)


def prepare(con: DuckDBPyConnection) -> None:
    """The tables a load writes, created or upgraded."""
    con.execute(CREATE_DELIVERIES)
    for statement in UPGRADE_DELIVERIES:
        con.execute(statement)
    ensure_state(con)
    con.execute(CREATE_LOADED_FILES)


def files_already_loaded(con: DuckDBPyConnection, start: datetime, end: datetime,
                         listed: list[str]) -> set[str]:
    """The listed files whose rows the window already holds, when appending the others is
    the same as replacing the window; else the empty set (replace it): the window was never
    loaded by file, or a file loaded before is gone (quarantined, deleted)."""
    prepare(con)
    loaded = {path for path, _ in con.execute(LOADED_FILES, {"start": start, "end": end})
              .fetchall()}
    return loaded if loaded and loaded <= set(listed) else set()


def load_window(con: DuckDBPyConnection, landing: LandingInventory, start: datetime,
                end: datetime, timezone: str, integrations_file: Path | None,
                *, already_loaded: set[str] | frozenset[str] = frozenset(),
                erasures: ErasureLedger | None = None) -> WindowLoad:
    """Load the window's landing rows, in one transaction.

    Without `already_loaded` the window's deliveries are replaced (a backfill or a re-run is
    idempotent). With it (the landing sensor's runs: files_already_loaded) the rows of those
    files stay and only `landing`'s files, the new ones, are read and appended, so the cost
    follows the new deliveries, not the day so far.

    A landing row an erasure's tombstone covers (`erasures`: osvi forget) is neither loaded
    nor counted as landed: a replica's journal published late, a re-imported file or a
    rebuild from landing never brings an erased call back.
    """
    params: dict[str, object] = {"start": start, "end": end}
    prepare(con)
    erased, salt = "", {}
    if erasures is not None and load_tombstones(con, erasures.tombstones()):
        erased, salt = f"and not {tombstoned()}", {"erasure_salt": erasures.salt()}
    incremental = bool(already_loaded)
    files = [file for file in landing.readable if file not in already_loaded]
    con.execute("begin transaction")
    relabeled = relabel_days(con, timezone)
    if not incremental:
        record_window_changes(con, params)  # what the old rows fed downstream...
        con.execute(DELETE_WINDOW, params)
        con.execute(FORGET_WINDOW_FILES, params)
    if files:
        con.execute(INSERT_WINDOW.format(columns=landing.select_list(), erased=erased,
                                         new_only=NOT_LOADED if incremental else ""),
                    {**params, **salt, "files": files, "tz": timezone})
        con.execute(RECORD_FILES.format(erased=erased), {**params, **salt, "files": files})
    ambiguous = normalize_template_deliveries(con, integrations_file, params)
    if incremental and not _has_templates(integrations_file):
        if files:  # only what the new rows feed
            record_delivery_changes(con, NEW_ROWS, {**params, "files": files})
    else:  # ...and what the new rows feed (templates may re-link earlier rows too)
        record_window_changes(con, params)
    con.execute("commit")
    loaded = int(scalar(con, COUNT_WINDOW, params))
    landed = int(scalar(con, "select coalesce(sum(rows), 0) from osvi_state.loaded_files "
                             "where window_start = $start and window_end = $end", params))
    erased_rows: dict[str, set[str]] = {}
    if erased and files:
        for filename, delivery_id in con.execute(ERASED_ROWS.format(tombstoned=tombstoned()),
                                                 {**params, **salt, "files": files}).fetchall():
            erased_rows.setdefault(str(filename), set()).add(str(delivery_id))
    return WindowLoad(loaded, landed, relabeled, ambiguous, len(files), incremental,
                      erased_rows)


def _has_templates(integrations_file: Path | None) -> bool:
    """Template and URL-template integrations re-link rows of the whole window on each load."""
    if integrations_file is None or not integrations_file.exists():
        return False
    return any(item.mode in ("template", "call_status") or item.url_template
               for item in load_integrations(integrations_file).values())
