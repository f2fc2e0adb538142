"""SQL models: one `.sql` file per table in dbt_like_sql/<layer>/, each becoming a Dagster asset.

A file holds one SELECT (CTEs welcome) under a header comment that says what the table is for
and its grain. Dependencies are the tables the SELECT reads, found with sqlglot, so they are
never listed twice. The folder (`staging`, `core`, `fields`, `marts`) is the asset's group.
Two header lines are read:

- `-- materialized: full` (rebuilt every run: the small marts, whose rows span days) or
  `-- materialized: incremental(<key>)` (`received_day`, `delivery_id`, `call_log_id` or
  `call_date`: runs rebuild only the changed keys' rows, see warehouse/change_log.py).
  Required: a missing line is an error, not a silent full rebuild.
- `-- tests: unique(<column>), not_null(<column>)` (optional): asset checks run with the build.

`dbt_like_sql/macros/*.sql` hold DuckDB macros the models share (like dbt's macros); each file is
one `create or replace temp macro`, run on the connection before a model is built
(warehouse/model_runner.py).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Literal

import sqlglot
from sqlglot import exp

# The keys an incremental model can be rebuilt by (`-- materialized: incremental(<key>)`).
ScopeKey = Literal["received_day", "delivery_id", "call_log_id", "call_date"]
# What a load of `deliveries` changes; with each call it changes it also records the days that
# call is on (warehouse/change_log.py), so the per-day aggregates rebuild those days only.
DELIVERY_KEYS: tuple[ScopeKey, ...] = ("received_day", "delivery_id", "call_log_id")
SCOPE_KEYS: tuple[ScopeKey, ...] = (*DELIVERY_KEYS, "call_date")
TestKind = Literal["unique", "not_null"]
TEST_KINDS: tuple[TestKind, ...] = ("unique", "not_null")

# Package data (pyproject.toml), so a wheel install has the models without a checkout.
SQL_DIR: Traversable = files("dbt_like_sql")
MACRO_DIR = SQL_DIR / "macros"
LAYERS = ("staging", "core", "fields", "marts")  # folders of models, upstream first


class ModelError(ValueError):
    """A model file whose header cannot be used; the message names the file."""


@dataclass(frozen=True)
class ColumnTest:
    kind: TestKind
    column: str

    @property
    def name(self) -> str:
        return f"{self.kind}_{self.column}"


@dataclass(frozen=True)
class SqlModel:
    name: str
    sql: str
    description: str
    reads: frozenset[str]
    group: str  # the layer folder
    incremental: ScopeKey | None = None
    tests: tuple[ColumnTest, ...] = ()


@functools.lru_cache(maxsize=512)
def read_tables(sql: str) -> frozenset[str]:
    """Tables a query reads (its CTE names and table functions excluded). Cached by text:
    parsing every model is most of a code location's load, paid by each run worker and twice
    in a load (the assets, the tables' change scopes)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return frozenset(table.name for table in tree.find_all(exp.Table)
                     if table.name and table.name not in ctes)


def header(sql: str) -> str:
    """The leading `--` comment block, as the asset's description (without the
    `materialized:` and `tests:` lines, which are read on their own)."""
    lines = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        text = line.removeprefix("--").strip()
        if not text.startswith(("materialized:", "tests:")):
            lines.append(text)
    return re.sub(r"\s+", " ", " ".join(lines)).strip()


def materialization(sql: str, where: str) -> ScopeKey | None:
    """None for `-- materialized: full`, the key for `-- materialized: incremental(<key>)`."""
    match = re.search(r"^--\s*materialized:\s*(.*?)\s*$", sql, flags=re.MULTILINE)
    if match is None:
        raise ModelError(f"{where}: no '-- materialized: full' or "
                         "'-- materialized: incremental(<key>)' header line")
    value = match.group(1)
    if value == "full":
        return None
    incremental = re.fullmatch(r"incremental\((\w+)\)", value)
    for known in SCOPE_KEYS:
        if incremental and incremental.group(1) == known:
            return known
    raise ModelError(f"{where}: materialized {value!r} is not 'full' or incremental(<key>) "
                     f"with a key among {', '.join(SCOPE_KEYS)}")


def column_tests(sql: str, where: str) -> tuple[ColumnTest, ...]:
    """The `-- tests: unique(col), not_null(col)` header lines, in order."""
    found: list[ColumnTest] = []
    for line in re.findall(r"^--\s*tests:\s*(.*?)\s*$", sql, flags=re.MULTILINE):
        for item in (part.strip() for part in line.split(",") if part.strip()):
            test = re.fullmatch(r"(\w+)\((\w+)\)", item)
            kind = test.group(1) if test else None
            if test is None or kind not in TEST_KINDS:
                raise ModelError(f"{where}: test {item!r} is not one of "
                                 f"{', '.join(f'{k}(<column>)' for k in TEST_KINDS)}")
            found.append(ColumnTest(kind, test.group(2)))
    return tuple(found)


def _sql_files(directory: Traversable) -> list[Traversable]:
    return sorted((entry for entry in directory.iterdir() if entry.name.endswith(".sql")),
                  key=lambda entry: entry.name)


def load_models(directory: Traversable = SQL_DIR) -> list[SqlModel]:
    """Every model of the layer folders, upstream layers first."""
    stray = [entry.name for entry in _sql_files(directory)]
    if stray:
        raise ModelError(f"dbt_like_sql/{stray[0]}: a model belongs in a layer folder "
                         f"({', '.join(LAYERS)})")
    models = []
    for layer in LAYERS:
        if not (directory / layer).is_dir():
            continue
        for path in _sql_files(directory / layer):
            name, sql = path.name.removesuffix(".sql"), path.read_text(encoding="utf-8")
            where = f"dbt_like_sql/{layer}/{path.name}"
            models.append(SqlModel(name, sql, header(sql), read_tables(sql), layer,
                                   materialization(sql, where), column_tests(sql, where)))
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


def in_build_order(models: list[SqlModel]) -> list[SqlModel]:
    """`models` with each after the models it reads (their order kept where it is free)."""
    names = {model.name for model in models}
    done: set[str] = set()
    ordered: list[SqlModel] = []
    pending = list(models)
    while pending:
        ready = [model for model in pending if not (model.reads & names) - done - {model.name}]
        if not ready:
            raise ModelError(f"models that read each other: {sorted(m.name for m in pending)}")
        ordered.append(ready[0])
        done.add(ready[0].name)
        pending.remove(ready[0])
    return ordered
