"""The warehouse analysts read, brought up to date by changes instead of a whole-file copy.

A DuckDB file held read-write by one process cannot be opened by another, so analysts never
read the pipeline's working file. They read OSVI_WAREHOUSE, a hard link to one of two private
copies next to the working file (`published-a.duckdb`, `published-b.duckdb`). Each run writes
the copy analysts are *not* linked to: its tables take only the rows of the days and calls
changed since that copy was last written (the same change log as the incremental models;
masked when OSVI_PII=mask), it is checkpointed, and OSVI_WAREHOUSE is re-linked to it with an
atomic rename (publish.py). So a run's publication costs its changes, not the file: before,
each run checkpointed the working file and copied it whole (~2 s a run at 1M deliveries, the
copy alone 0.4-0.5 s from the page cache and 2.2-6.2 s at 5M).

A copy that cannot or should not be written incrementally is remade by a file copy (of the
working file; with OSVI_PII=mask, of the other, masked copy): when it is missing, when it is far
behind (RESEED_SHARE), or when a reader that opened it two runs ago still holds DuckDB's shared
lock on it (the reader keeps the old inode and its snapshot). A copy's watermarks live in
the copy; the working file keeps each copy's lowest one (`osvi_state.copies`) so the change
records a copy still needs are not pruned while it waits its turn.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from osvi_pipeline.lib.pii_rules import PiiRules
from osvi_pipeline.lib.sql_names import quote_identifier, sql_text
from osvi_pipeline.warehouse.change_log import (
    CHANGE_LOG_VERSION,
    Plan,
    TableScope,
    change_log_id,
    create_scope,
    day_column,
    ensure_state,
    fingerprint,
    in_scope,
    last_change,
    mark_done,
    plan,
    retire_table,
    transaction,
)
from osvi_pipeline.warehouse.masking import masked_select, register_functions
from osvi_pipeline.warehouse.publish import copy_file
from osvi_pipeline.warehouse.queries import scalar, table_exists
from osvi_pipeline.warehouse.storage_format import convert_if_newer
from osvi_pipeline.warehouse.wide_tables import WIDE_TABLES

COPY_NAMES = ("published-a.duckdb", "published-b.duckdb")
COPY_CATALOG = "osvi_published"
MASKING_VERSION = 2  # bump when the masking rules in code change: masked copies are redone
# Beyond this share of the calls changed since a copy was written, copying the working file
# whole is cheaper (measured: 31,000 changed calls over 230,000 took 1.8 s as changed rows, a
# checkpoint and 150 MB file copy 0.7 s; 300 over 1,000,000 took 0.5 s as changed rows).
RESEED_SHARE = 0.02
# What earlier versions published from with OSVI_PII=mask (the copies replace it).
LEGACY_MASKED_FILE = "masked.duckdb"


@dataclass(frozen=True)
class CopyTarget:
    path: Path  # the copy this run writes
    current: Path | None  # the copy analysts are linked to now (None: not one of ours yet)


def choose_copy(working: Path, published: Path) -> CopyTarget:
    """The copy OSVI_WAREHOUSE is not linked to. When it is linked to neither (the first run,
    an earlier version's plain copy, another filesystem), the older of the two."""
    copies = [working.with_name(name) for name in COPY_NAMES]
    try:
        linked = published.stat().st_ino
    except FileNotFoundError:
        linked = None
    inodes = {path: path.stat().st_ino for path in copies if path.exists()}
    for index, path in enumerate(copies):
        if linked is not None and inodes.get(path) == linked:
            return CopyTarget(copies[1 - index], path)
    older, newer = sorted(copies, key=lambda path: path.stat().st_mtime_ns
                          if path in inodes else -1)
    return CopyTarget(older, newer if newer in inodes else None)


def attach_copy(con: duckdb.DuckDBPyConnection, target: CopyTarget, working: Path,
                config: dict[str, Any], keep_raw: bool) -> str:
    """Attach `target.path` as COPY_CATALOG for writing; return how it was prepared.

    'kept': written incrementally from its own watermarks. 'seeded': made (or remade, when a
    reader held it or it was far behind) by a file copy of the working file, nothing being
    masked. 'reseeded': with OSVI_PII=mask, made by a file copy of the current copy. 'empty':
    every table is built in full.
    """
    path = target.path
    prepared = "kept"
    if not path.exists() or (keep_raw and _cheaper_to_copy_whole(con, path)):
        prepared = _remake(con, target, working, keep_raw)
    convert_if_newer(path, config)
    try:
        con.execute(f"attach {sql_text(str(path))} as {COPY_CATALOG}")
    except duckdb.IOException as error:
        if "lock" not in str(error).lower():
            raise
        # A reader still holds it from two publications ago.
        prepared = _remake(con, target, working, keep_raw)
        con.execute(f"attach {sql_text(str(path))} as {COPY_CATALOG}")
    if prepared == "seeded":
        _adopt(con)
    return prepared


def _cheaper_to_copy_whole(con: duckdb.DuckDBPyConnection, copy: Path) -> bool:
    """Whether the copy is so far behind that a file copy of the working file beats taking
    the changed rows: a table rebuilt in full since, or more than RESEED_SHARE of the calls
    changed (each keyed table's delete and insert scans it whole; a bulk load of a day into a
    small history is cheaper copied, a micro-batch into a large one far cheaper taken)."""
    watermark = con.execute("select change_id from osvi_state.copies where copy = $copy",
                            {"copy": copy.name}).fetchall()
    if not watermark or not table_exists(con, "main", "calls"):
        return False
    changed = {"after": watermark[0][0]}
    if scalar(con, "select count(*) from osvi_state.changes where change_id > $after "
                   "and key is null", changed):
        return True
    calls = scalar(con, "select count(distinct key) from osvi_state.changes "
                        "where change_id > $after and scope = 'call_log_id'", changed)
    return int(calls) > RESEED_SHARE * int(scalar(con, "select count(*) from calls"))


def _remake(con: duckdb.DuckDBPyConnection, target: CopyTarget, working: Path,
            keep_raw: bool) -> str:
    """Replace the copy (a reader holding the old file keeps its inode) by copying a file
    whole: the working file itself when nothing is masked (up to date as it is), else the
    current copy (masked; it then takes the changes since it was written)."""
    target.path.unlink(missing_ok=True)
    Path(f"{target.path}.wal").unlink(missing_ok=True)
    if keep_raw:
        con.execute("checkpoint")  # every table in the working file itself, none in its WAL
        _copy_atomically(working, target.path)
        return "seeded"
    if target.current is not None and target.current.exists():
        _copy_atomically(target.current, target.path)
        return "reseeded"
    return "empty"


def _copy_atomically(source: Path, target: Path) -> None:
    temp = target.with_name(f"{target.name}.seeding")
    copy_file(source, temp)
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, target)


def _adopt(con: duckdb.DuckDBPyConnection) -> None:
    """A copy of the working file holds every table as of now: its bookkeeping is the working
    file's, replaced by a copy's own watermarks at the newest change."""
    con.execute(f"drop schema if exists {COPY_CATALOG}.osvi_state cascade")
    ensure_state(con, COPY_CATALOG)
    now, log_id = last_change(con), change_log_id(con)
    for table in _tables(con, None):
        mark_done(con, table, Plan(False, now, now),
                  _copy_fingerprint(con, table, None, log_id), catalog=COPY_CATALOG)


def refresh_copy(con: duckdb.DuckDBPyConnection, rules: PiiRules | None,
                 scopes: dict[str, TableScope]) -> dict[str, str]:
    """Bring the attached copy up to date: each `main` table (masked with `rules`), only its
    changed keys' rows when it has a key (the Python masking is costly; copying the history
    too), and the views. Returns table -> 'full' or 'incremental'."""
    if rules is not None:
        register_functions(con, rules)
    ensure_state(con, COPY_CATALOG)
    main = _tables(con, None)
    for stale in set(_tables(con, COPY_CATALOG)) - set(main):
        retire_table(con, stale, COPY_CATALOG)
    log_id = change_log_id(con)
    builds = {table: _refresh_one(con, rules, table,
                                  scopes.get(table, TableScope(None, frozenset())), log_id)
              for table in main}
    _copy_views(con)
    return builds


def _copy_fingerprint(con: duckdb.DuckDBPyConnection, table: str, rules: PiiRules | None,
                      log_id: str) -> str:
    """What a copy's table was made from: its columns, the masking, the working file's change
    log (change_log_id)."""
    columns = con.execute("select column_name, data_type from information_schema.columns "
                          "where table_catalog = current_database() and table_schema = 'main' "
                          "and table_name = $t order by ordinal_position", {"t": table}).fetchall()
    masking = (rules.phone_keys, rules.name_keys, MASKING_VERSION) if rules else "as received"
    return fingerprint(masking, columns, log_id, CHANGE_LOG_VERSION)


def _refresh_one(con: duckdb.DuckDBPyConnection, rules: PiiRules | None, table: str,
                 scope: TableScope, log_id: str) -> str:
    model_fingerprint = _copy_fingerprint(con, table, rules, log_id)
    sources = set(scope.sources) | {table}
    planned = plan(con, table, sources, model_fingerprint, catalog=COPY_CATALOG)
    target = f"{COPY_CATALOG}.main.{quote_identifier(table)}"
    select = (masked_select(con, table, rules) if rules is not None
              else f"select * from {quote_identifier(table)}")
    full = planned.full or scope.key is None
    with transaction(con):
        if full and (rules is None or table not in WIDE_TABLES):
            _create_like(con, table)
            con.execute(f"insert into {target} by name {select}")
        elif full:  # masking may turn a wide column into VARCHAR: its type comes from the data
            con.execute(f"create or replace table {target} as {select}")
        else:
            assert scope.key is not None
            create_scope(con, scope.key, sources, planned)
            changed = in_scope(scope.key, day_column(con, table, scope.key))
            con.execute(f"delete from {target} where {changed}")
            con.execute(f"insert into {target} by name {select} where {changed}")
        if scope.key is not None:
            mark_done(con, table, planned, model_fingerprint, catalog=COPY_CATALOG)
    return "full" if full else "incremental"


def record_copy_watermark(con: duckdb.DuckDBPyConnection, copy: Path) -> None:
    """The copy's lowest watermark, kept in the working file for prune_changes."""
    con.execute(f"insert or replace into osvi_state.copies select $copy, "
                f"coalesce(min(change_id), 0) from {COPY_CATALOG}.osvi_state.models",
                {"copy": copy.name})


def _create_like(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """An empty `table` in the copy made by the working table's own DDL, so the copy keeps its
    column types, constraints and compression (the ZSTD bodies of `deliveries`), which
    `create table ... as` would not."""
    ddl = scalar(con, "select sql from duckdb_tables() where database_name = current_database() "
                      "and schema_name = 'main' and table_name = $t", {"t": table})
    _in_copy(con, [f"drop table if exists {quote_identifier(table)}", ddl])


def _in_copy(con: duckdb.DuckDBPyConnection, statements: list[str]) -> None:
    """Run statements that name their relations unqualified in the copy's `main` schema."""
    source = scalar(con, "select current_database()")
    con.execute(f"use {COPY_CATALOG}.main")
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.execute(f"use {quote_identifier(source)}.main")


def _copy_views(con: duckdb.DuckDBPyConnection) -> None:
    """The views of `main` (they name their tables unqualified: the copy's own there)."""
    views = con.execute("select view_name, sql from duckdb_views() where database_name = "
                        "current_database() and schema_name = 'main' and not internal").fetchall()
    stale = con.execute("select view_name from duckdb_views() where database_name = $c and "
                        "schema_name = 'main' and not internal", {"c": COPY_CATALOG}).fetchall()
    _in_copy(con, [f"drop view {quote_identifier(name)}" for (name,) in stale]
             + [sql for _, sql in views])


def _tables(con: duckdb.DuckDBPyConnection, catalog: str | None) -> list[str]:
    """The `main` tables of the current database or of the attached `catalog`."""
    return [row[0] for row in con.execute(
        "select table_name from duckdb_tables() where database_name = "
        "coalesce($c, current_database()) and schema_name = 'main' order by table_name",
        {"c": catalog}).fetchall()]


# The change records a publication carries for the export (warehouse/export.py): a destination
# takes the rows changed since the publication it holds. Kept EXPORT_LOG_DAYS; a destination
# further behind than a copy's records go (its floor) is exported in full.
EXPORT_LOG_DAYS = 7
EXPORT_LOG_DDL = [
    f"create table if not exists {COPY_CATALOG}.osvi_state.export_changes (change_id bigint not "
    "null, source varchar not null, scope varchar not null, key varchar, published_at "
    "timestamptz not null)",
    # changes at or below the floor are not in export_changes
    f"create table if not exists {COPY_CATALOG}.osvi_state.export_floor (change_id bigint not "
    "null)",
]


def carry_changes(con: duckdb.DuckDBPyConnection, prepared: str) -> None:
    """Append to the attached copy the change records since the ones it holds; call it after
    refresh_copy, before prune_changes."""
    for statement in EXPORT_LOG_DDL:
        con.execute(statement)
    log = f"{COPY_CATALOG}.osvi_state.export_changes"
    floor = f"{COPY_CATALOG}.osvi_state.export_floor"
    if prepared in ("seeded", "empty") or not scalar(con, f"select count(*) from {floor}"):
        # A new history: every change the working file still holds (all those after the
        # last one pruned), so a destination that took an earlier publication goes on.
        con.execute(f"delete from {log}")
        con.execute(f"delete from {floor}")
        con.execute(f"insert into {floor} select coalesce((select min(change_id) - 1 from "
                    "osvi_state.changes), $now)", {"now": last_change(con)})
    con.execute(f"""
        insert into {log}
        select change_id, source, scope, key, now() from osvi_state.changes
        where change_id > (select greatest(max(change_id), (select max(change_id) from {log}))
                           from {floor})""")
    con.execute(f"""
        update {floor} set change_id = greatest(change_id, (
            select max(change_id) from {log}
            where published_at < now() - interval {EXPORT_LOG_DAYS} day))
        where exists (select 1 from {log}
                      where published_at < now() - interval {EXPORT_LOG_DAYS} day)""")
    con.execute(f"delete from {log} where published_at < now() - interval {EXPORT_LOG_DAYS} day")
