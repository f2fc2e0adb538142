"""The `deliveries` table: DDL, and the idempotent load of a time window from landing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from duckdb import DuckDBPyConnection

from osvi_pipeline.lib.sql_models import ScopeKey
from osvi_pipeline.warehouse.change_log import ensure_state, record_changes
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
where received_at >= $start and received_at < $end
"""
# Rows loaded while OSVI_TIMEZONE was another zone (a scan of one column: ~25 ms at 300,000).
MISLABELED = f"received_day <> {LOCAL_DAY}"
COUNT_WINDOW = "select count(*) from deliveries where received_at >= $start and received_at < $end"
COUNT_LANDING = """
select count(*) from read_parquet($files, union_by_name = true)
where received_at >= $start and received_at < $end
"""


def record_window_changes(con: DuckDBPyConnection, params: dict[str, object]) -> None:
    """The days and calls of the window's rows, for the incremental models downstream."""
    for key in ("received_day", "call_log_id"):
        record_changes(con, "deliveries", key, f"select {key} from deliveries "
                       "where received_at >= $start and received_at < $end", params)


def relabel_days(con: DuckDBPyConnection, timezone: str) -> int:
    """Move deliveries loaded under another OSVI_TIMEZONE to their day in this one; return how
    many moved. Without it, a changed zone applied only to the days loaded again afterwards:
    older days kept the old zone's boundaries, and calls near midnight their old call_date."""
    params: dict[str, object] = {"tz": timezone}
    moved = int(scalar(con, f"select count(*) from deliveries where {MISLABELED}", params))
    if moved:  # the old days, the new days and the calls all feed the models downstream
        changed: list[tuple[ScopeKey, str]] = [("received_day", "received_day"),
                                               ("received_day", LOCAL_DAY),
                                               ("call_log_id", "call_log_id")]
        for scope, keys in changed:
            record_changes(con, "deliveries", scope,
                           f"select {keys} from deliveries where {MISLABELED}", params)
        con.execute(f"update deliveries set received_day = {LOCAL_DAY} where {MISLABELED}",
                    params)
    return moved


@dataclass(frozen=True)
class WindowLoad:
    loaded: int  # rows of the window in `deliveries` after the load
    landed: int  # rows of the window in the readable landing files
    relabeled: int  # deliveries moved to their day in a changed OSVI_TIMEZONE
    ambiguous: dict[str, list[str]]  # template slots that could not be split, per integration


def load_window(con: DuckDBPyConnection, landing: LandingInventory, start: datetime,
                end: datetime, timezone: str, integrations_file: Path | None) -> WindowLoad:
    """Replace the window's deliveries with its landing rows, in one transaction."""
    params: dict[str, object] = {"start": start, "end": end}
    files = landing.readable
    con.execute(CREATE_DELIVERIES)
    for statement in UPGRADE_DELIVERIES:
        con.execute(statement)
    ensure_state(con)
    con.execute("begin transaction")
    relabeled = relabel_days(con, timezone)
    record_window_changes(con, params)  # what the old rows fed downstream...
    con.execute(DELETE_WINDOW, params)
    if files:
        con.execute(INSERT_WINDOW.format(columns=landing.select_list()),
                    {**params, "files": files, "tz": timezone})
    ambiguous = normalize_template_deliveries(con, integrations_file, params)
    record_window_changes(con, params)  # ...and what the new rows feed
    con.execute("commit")
    loaded = int(scalar(con, COUNT_WINDOW, params))
    landed = int(scalar(con, COUNT_LANDING, {**params, "files": files})) if files else 0
    return WindowLoad(loaded, landed, relabeled, ambiguous)
