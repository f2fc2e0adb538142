"""Quoting names and text for DuckDB SQL."""

from sqlglot import exp


def quote_identifier(name: str) -> str:
    """A DuckDB identifier for any name (user-chosen field names included)."""
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def sql_text(value: str) -> str:
    """A SQL string literal, for the few statements that take no parameters (ATTACH paths,
    options) and configured patterns that may hold quotes."""
    return "'" + value.replace("'", "''") + "'"
