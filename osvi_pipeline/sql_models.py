"""SQL models: one `.sql` file per table in dbt_like_sql/, each becoming a Dagster asset.

A file holds one SELECT (CTEs welcome) under a header comment that says what the table is for
and its grain. Dependencies are the tables the SELECT reads, found with sqlglot, so they are
never listed twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

SQL_DIR = Path(__file__).resolve().parents[1] / "dbt_like_sql"


@dataclass(frozen=True)
class SqlModel:
    name: str
    sql: str
    description: str
    reads: frozenset[str]


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


def load_models(directory: Path = SQL_DIR) -> list[SqlModel]:
    models = []
    for path in sorted(directory.glob("*.sql")):
        sql = path.read_text(encoding="utf-8")
        models.append(SqlModel(path.stem, sql, header(sql), read_tables(sql)))
    return models
