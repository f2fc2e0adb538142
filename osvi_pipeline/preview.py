"""Small Markdown previews of tables for materialization metadata (shown in the Dagster UI)."""

from __future__ import annotations

from typing import Any

import duckdb
from sqlglot import exp


def quote_identifier(name: str) -> str:
    """A DuckDB identifier for any name (user-chosen field names included)."""
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def markdown_table(columns: list[str], rows: list[tuple[Any, ...]], limit: int = 10) -> str:
    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= 60 else text[:57] + "..."

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows[:limit]]
    return "\n".join(lines)


def preview(con: duckdb.DuckDBPyConnection, table: str, limit: int = 5) -> str:
    cursor = con.execute(f"select * from {quote_identifier(table)} limit {int(limit)}")
    columns = [description[0] for description in cursor.description or []]
    return markdown_table(columns, cursor.fetchall(), limit)
