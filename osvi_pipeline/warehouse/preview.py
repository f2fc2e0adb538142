"""Small Markdown previews of tables for materialization metadata (shown in the Dagster UI)."""

from __future__ import annotations

from typing import Any

import duckdb

from osvi_pipeline.lib.pii_rules import PiiRules
from osvi_pipeline.lib.sql_names import quote_identifier
from osvi_pipeline.warehouse.masking import masked_select, register_functions

__all__ = ["markdown_table", "preview", "quote_identifier"]


def markdown_table(columns: list[str], rows: list[tuple[Any, ...]], limit: int = 10) -> str:
    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= 60 else text[:57] + "..."

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows[:limit]]
    return "\n".join(lines)


def preview(con: duckdb.DuckDBPyConnection, table: str, limit: int = 5,
            pii: PiiRules | None = None) -> str:
    """The first rows; masked like the published warehouse when OSVI_PII=mask (only those
    rows: masking runs in Python, and a long table's paths are read from them alone)."""
    first_rows = f"(select * from {quote_identifier(table)} limit {int(limit)})"
    select = f"select * from {first_rows}"
    if pii is not None:  # on `con`, not on the cursor: DuckDB keeps a function registered
        register_functions(con, pii)  # by a cursor after the cursor is gone, uncallable
    cursor = con.cursor()  # its own: the caller may hold an unfinished result
    if pii is not None:
        select = masked_select(cursor, table, pii, rows=first_rows)
    cursor.execute(select)
    columns = [description[0] for description in cursor.description or []]
    return markdown_table(columns, cursor.fetchall(), limit)
