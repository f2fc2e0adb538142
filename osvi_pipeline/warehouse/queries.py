"""The few query shapes every warehouse module needs, spelled once."""

from __future__ import annotations

from typing import Any

import duckdb

from osvi_pipeline.lib.sql_names import quote_identifier


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
           ) -> Any:
    """The first column of the first row (None when there is no row). The result is read to
    its end: a half-read one blocks the connection's next streamed query (DuckDB 2)."""
    rows = con.execute(sql, params or {}).fetchall()
    return rows[0][0] if rows else None


def row_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Rows of a table or view named by its (unquoted) name."""
    return int(scalar(con, f"select count(*) from {quote_identifier(table)}"))


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str,
                 catalog: str | None = None) -> bool:
    """Whether `catalog.schema.table` exists (the current database when catalog is None)."""
    return bool(scalar(con, "select count(*) from duckdb_tables() where database_name = "
                            "coalesce($c, current_database()) and schema_name = $s "
                            "and table_name = $t", {"c": catalog, "s": schema, "t": table}))


def column_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """`main.<table>`'s columns and their DuckDB types, in order; empty when it does not
    exist."""
    return dict(con.execute(
        "select column_name, data_type from information_schema.columns where table_catalog = "
        "current_database() and table_schema = 'main' and table_name = $t "
        "order by ordinal_position", {"t": table}).fetchall())
