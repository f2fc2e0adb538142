"""Quoting names for DuckDB SQL."""

from sqlglot import exp


def quote_identifier(name: str) -> str:
    """A DuckDB identifier for any name (user-chosen field names included)."""
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")
