"""Building one SQL model's table: in full, or only the keys changed since its last run."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from osvi_pipeline.lib.sql_models import SqlModel, load_macros
from osvi_pipeline.lib.sql_names import quote_identifier
from osvi_pipeline.warehouse.change_log import (
    create_scope,
    ensure_state,
    fingerprint,
    mark_done,
    plan,
    record_changes,
    restrict_to_scope,
    transaction,
)
from osvi_pipeline.warehouse.queries import column_types, row_count

DAY_COLUMN = "call_date"  # a call's day, the key of the per-day aggregates


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
    model_fingerprint = fingerprint(model.sql, macros, settings_key)
    planned = plan(con, model.name, sources, model_fingerprint)
    table = quote_identifier(model.name)
    key = model.incremental
    full = planned.full or key is None
    changed_keys = None
    with transaction(con):
        if full:
            con.execute(f"create or replace table {table} as {model.sql}")
            if key is not None:  # downstream models must rebuild in full too
                record_changes(con, model.name, key, None)
        else:
            assert key is not None
            scope = create_scope(con, key, sources, planned)
            changed_keys = row_count(con, scope)
            sql = restrict_to_scope(model.sql, key, keyed_tables(con, model.reads, key), scope)
            days_touched = _days_of_calls(con, model.name, key, scope)
            if days_touched:
                record_changes(con, model.name, "call_date", days_touched)  # the old days
            con.execute(f"delete from {table} where {quote_identifier(key)} in "
                        f"(select key from {scope})")
            con.execute(f"insert into {table} by name {sql}")
            if days_touched:
                record_changes(con, model.name, "call_date", days_touched)  # the new days
        if key is not None:
            mark_done(con, model.name, planned, model_fingerprint)
    rows = row_count(con, model.name)
    return ModelBuild(full, rows, changed_keys)


def _days_of_calls(con: duckdb.DuckDBPyConnection, table: str, key: str,
                   scope: str) -> str | None:
    """For a model keyed by call with a `call_date`: the query of the days its changed calls
    are on, which models keyed by day rebuild (recorded before the change and after it)."""
    if key != "call_log_id" or DAY_COLUMN not in column_types(con, table):
        return None
    return (f"select {DAY_COLUMN} from {quote_identifier(table)} "
            f"where call_log_id in (select key from {scope})")


def create_macros(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The shared macros, as temp macros of this connection (never stored in the warehouse);
    returns their text (a model's fingerprint includes it)."""
    macros = load_macros()
    for macro in macros:
        con.execute(macro)
    return macros


def keyed_tables(con: duckdb.DuckDBPyConnection, tables: frozenset[str], key: str) -> set[str]:
    """Which of `tables` have a `key` column (those reads are limited to the changed keys)."""
    return {row[0] for row in con.execute(
        "select table_name from information_schema.columns where table_catalog = "
        "current_database() and column_name = $key and list_contains($tables, table_name)",
        {"key": key, "tables": sorted(tables)}).fetchall()}
