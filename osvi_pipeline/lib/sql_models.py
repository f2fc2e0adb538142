"""SQL models: one `.sql` file per table in dbt_like_sql/, each becoming a Dagster asset.

A file holds one SELECT (CTEs welcome) under a header comment that says what the table is for
and its grain. Dependencies are the tables the SELECT reads, found with sqlglot, so they are
never listed twice. A header line `-- incremental: <key>` (`received_day` or `call_log_id`)
makes runs rebuild only the changed keys' rows (see warehouse/change_log.py); without it the
table is rebuilt in full every run (the small marts, whose rows span days).

`dbt_like_sql/macros/*.sql` hold DuckDB macros the models share (like dbt's macros); each file is
one `create or replace temp macro`, run on the connection before a model is built
(warehouse/model_runner.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Literal

import sqlglot
from sqlglot import exp

# The keys an incremental model can be rebuilt by (`-- incremental: <key>`).
ScopeKey = Literal["received_day", "call_log_id"]
SCOPE_KEYS: tuple[ScopeKey, ...] = ("received_day", "call_log_id")

# Package data (pyproject.toml), so a wheel install has the models without a checkout.
SQL_DIR: Traversable = files("dbt_like_sql")
MACRO_DIR = SQL_DIR / "macros"


@dataclass(frozen=True)
class SqlModel:
    name: str
    sql: str
    description: str
    reads: frozenset[str]
    incremental: ScopeKey | None = None


def read_tables(sql: str) -> frozenset[str]:
    """Tables a query reads (its CTE names and table functions excluded)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return frozenset(table.name for table in tree.find_all(exp.Table)
                     if table.name and table.name not in ctes)


def header(sql: str) -> str:
    """The leading `--` comment block, as the asset's description."""
    lines = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line.removeprefix("--").strip())
    return re.sub(r"\s+", " ", " ".join(lines)).strip()


def incremental_key(sql: str, name: str) -> ScopeKey | None:
    """The key of a `-- incremental: <key>` header line, if any."""
    match = re.search(r"^--\s*incremental:\s*(\w+)\s*$", sql, flags=re.MULTILINE)
    if match is None:
        return None
    key = match.group(1)
    for known in SCOPE_KEYS:
        if key == known:
            return known
    raise ValueError(f"{name}.sql: incremental key {key!r} is not one of {SCOPE_KEYS}")


def _sql_files(directory: Traversable) -> list[Traversable]:
    return sorted((entry for entry in directory.iterdir() if entry.name.endswith(".sql")),
                  key=lambda entry: entry.name)


def load_models(directory: Traversable = SQL_DIR) -> list[SqlModel]:
    models = []
    for path in _sql_files(directory):
        name, sql = path.name.removesuffix(".sql"), path.read_text(encoding="utf-8")
        models.append(SqlModel(name, sql, header(sql), read_tables(sql),
                               incremental_key(sql, name)))
    return models


def load_macros(directory: Traversable = MACRO_DIR) -> list[str]:
    return [path.read_text(encoding="utf-8") for path in _sql_files(directory)]


def upstream(name: str, reads: dict[str, frozenset[str]]) -> set[str]:
    """Every table `name` reads, directly or through other models."""
    found: set[str] = set()
    pending = [name]
    while pending:
        for table in reads.get(pending.pop(), frozenset()):
            if table not in found:
                found.add(table)
                pending.append(table)
    return found
