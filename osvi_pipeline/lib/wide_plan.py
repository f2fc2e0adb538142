"""Planning the wide tables: one typed column per field or leaf path (pure logic).

Column names join nested keys with `__` (`appointment__date`); an array is one JSON column.
Types come from every value seen, so they do not depend on arrival order:

| values seen (nulls ignored)            | column  |
|----------------------------------------|---------|
| booleans                               | BOOLEAN |
| integers that fit 64 bits              | BIGINT  |
| numbers with a fraction (or huge ints) | DOUBLE  |
| strings that are all ISO dates         | DATE    |
| other strings                          | VARCHAR |
| arrays and objects                     | JSON    |
| nothing but nulls                      | VARCHAR |
| a mix of the above                     | VARCHAR, reported as a conflict |

DuckDB identifiers ignore case, so names that differ only by case, or that two paths produce
(`a__b` the key vs `a.b` nested), are told apart with a `__2`, `__3` suffix in path order:
no column is ever silently overwritten.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from osvi_pipeline.lib.json_paths import parse_path

_NUMBERS = {"UBIGINT", "BIGINT", "HUGEINT", "DOUBLE"}
_CONTAINERS = {"ARRAY", "OBJECT"}


@dataclass(frozen=True)
class PathStats:
    path: str
    types: frozenset[str]  # json_tree types seen, NULL excluded
    all_dates: bool  # every string is an ISO date
    ints_fit: bool  # every integer fits BIGINT


@dataclass(frozen=True)
class WideColumn:
    path: str
    name: str
    sql_type: str
    observed: tuple[str, ...]
    conflict: bool


def resolve_type(stats: PathStats) -> tuple[str, bool]:
    """The column type for a path, and whether its values conflict."""
    types = stats.types
    if not types:
        return "VARCHAR", False
    if types == {"BOOLEAN"}:
        return "BOOLEAN", False
    if types <= _NUMBERS:
        integral = types <= {"UBIGINT", "BIGINT"} and stats.ints_fit
        return ("BIGINT" if integral else "DOUBLE"), False
    if types == {"VARCHAR"}:
        return ("DATE" if stats.all_dates else "VARCHAR"), False
    if types <= _CONTAINERS:
        return "JSON", False
    return "VARCHAR", True


def base_name(path: str) -> str:
    return "__".join(str(segment) for segment in parse_path(path))


def plan_columns(stats: Iterable[PathStats], reserved: Iterable[str]) -> list[WideColumn]:
    taken = {name.casefold() for name in reserved}
    by_name: dict[str, list[PathStats]] = defaultdict(list)
    for item in stats:
        by_name[base_name(item.path).casefold()].append(item)
    columns = []
    for key in sorted(by_name):
        for item in sorted(by_name[key], key=lambda s: s.path):
            name = base_name(item.path)
            candidate, suffix = name, 1
            while candidate.casefold() in taken:
                suffix += 1
                candidate = f"{name}__{suffix}"
            taken.add(candidate.casefold())
            sql_type, conflict = resolve_type(item)
            columns.append(WideColumn(item.path, candidate, sql_type,
                                      tuple(sorted(item.types)), conflict))
    return sorted(columns, key=lambda column: column.path)


def value_expression(sql_type: str) -> str:
    """How a json_tree node's `value` becomes the column's value."""
    if sql_type == "JSON":
        return "value"
    if sql_type == "VARCHAR":
        return "value ->> '$'"
    return f"(value ->> '$')::{sql_type}"
