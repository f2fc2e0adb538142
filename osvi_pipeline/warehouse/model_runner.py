"""Building one SQL model's table: in full, or only the keys changed since its last run."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from osvi_pipeline.lib.sql_models import SqlModel, load_macros
from osvi_pipeline.lib.sql_names import quote_identifier
from osvi_pipeline.warehouse.change_log import (
    CHANGE_LOG_VERSION,
    DAY_HINTS,
    create_scope,
    day_column,
    ensure_state,
    fingerprint,
    in_scope,
    mark_done,
    pick_day_column,
    plan,
    record_changes,
    restrict_to_scope,
    transaction,
)
from osvi_pipeline.warehouse.queries import row_count


@dataclass(frozen=True)
class ModelBuild:
    full: bool
    rows: int
    changed_keys: int | None  # keys rebuilt by an incremental run


def build_sql_model(con: duckdb.DuckDBPyConnection, model: SqlModel, sources: set[str],
                    settings_key: str) -> ModelBuild:
    """Rebuild `model`'s table (one transaction); `settings_key` covers settings its SQL reads."""
    ensure_state(con)
    macros = create_macros(con)  # a changed macro rebuilds the models in full
    model_fingerprint = fingerprint(model.sql, macros, settings_key, CHANGE_LOG_VERSION)
    planned = plan(con, model.name, sources, model_fingerprint)
    table = quote_identifier(model.name)
    key = model.incremental
    full = planned.full or key is None
    changed_keys = None
    with transaction(con):
        if full:
            con.execute(f"create or replace table {table} as {_in_day_order(con, model.sql, key)}")
            if key is not None:  # downstream models must rebuild in full too
                record_changes(con, model.name, key, None)
        else:
            assert key is not None
            scope = create_scope(con, key, sources, planned)
            changed_keys = row_count(con, scope)
            sql = restrict_to_scope(model.sql, key, keyed_tables(con, model.reads, key))
            con.execute(f"delete from {table} "
                        f"where {in_scope(key, day_column(con, model.name, key))}")
            # Only the changed keys' rows: a read left whole (EVERY_DAY) may bring others.
            con.execute(f"insert into {table} by name select * from ({sql}) "
                        f"where {quote_identifier(key)} in (select key from {scope})")
        if key is not None:
            mark_done(con, model.name, planned, model_fingerprint)
    rows = row_count(con, model.name)
    return ModelBuild(full, rows, changed_keys)


def _in_day_order(con: duckdb.DuckDBPyConnection, sql: str, key: str | None) -> str:
    """A keyed model's query sorted by its day column (change_log's DAY_HINTS), so a full
    build leaves the table in day order and a micro-batch's deletes and reads skip every other
    day's row groups (a GROUP BY leaves rows in no particular order)."""
    if key not in DAY_HINTS:
        return sql
    day = pick_day_column(key, {row[0] for row in con.execute(f"describe {sql}").fetchall()})
    return sql if day is None else f"select * from ({sql}) order by {quote_identifier(day)}"


def create_macros(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The shared macros, as temp macros of this connection (never stored in the warehouse);
    returns their text (a model's fingerprint includes it)."""
    macros = load_macros()
    for macro in macros:
        con.execute(macro)
    return macros


# The column a table holds a key in, when not the key's own name: a model keyed by day reads
# call-status reports by the day each attempt was first reported.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {"call_date": ("call_date", "attempt_date")}


def keyed_tables(con: duckdb.DuckDBPyConnection, tables: frozenset[str],
                 key: str) -> dict[str, tuple[str, str | None]]:
    """Which of `tables` hold `key` (those reads are limited to the changed keys): the column
    that holds it there, and their day column (change_log's DAY_HINTS)."""
    names = KEY_COLUMNS.get(key, (key,))
    found = con.execute(
        "select table_name, column_name from information_schema.columns where table_catalog = "
        "current_database() and list_contains($names, column_name) "
        "and list_contains($tables, table_name)",
        {"names": list(names), "tables": sorted(tables)}).fetchall()
    columns: dict[str, str] = {}
    for table, column in sorted(found, key=lambda row: names.index(row[1])):
        columns.setdefault(table, column)  # the key's own name first
    return {table: (column, day_column(con, table, key)) for table, column in columns.items()}
