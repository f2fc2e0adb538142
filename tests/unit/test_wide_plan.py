"""Column planning for the wide tables: names, collisions and order-independent types."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from osvi_pipeline.lib.wide_plan import PathStats, plan_columns, resolve_type


def stats(path: str, *types: str, dates: bool = False, fits: bool = True) -> PathStats:
    return PathStats(path, frozenset(types), dates, fits)


def test_types_follow_osvi_extraction_types() -> None:
    assert resolve_type(stats("a", "BOOLEAN")) == ("BOOLEAN", False)
    assert resolve_type(stats("a", "UBIGINT", "BIGINT")) == ("BIGINT", False)
    assert resolve_type(stats("a", "UBIGINT", "DOUBLE")) == ("DOUBLE", False)
    assert resolve_type(stats("a", "UBIGINT", fits=False)) == ("DOUBLE", False)
    assert resolve_type(stats("a", "VARCHAR", dates=True)) == ("DATE", False)
    assert resolve_type(stats("a", "VARCHAR")) == ("VARCHAR", False)
    assert resolve_type(stats("a", "ARRAY")) == ("JSON", False)
    assert resolve_type(stats("a")) == ("VARCHAR", False)


def test_conflicts_widen_to_varchar_whatever_the_arrival_order() -> None:
    seen = ["BOOLEAN", "VARCHAR", "UBIGINT"]
    results = {resolve_type(stats("a", *order)) for order in itertools.permutations(seen)}
    assert results == {("VARCHAR", True)}


def test_nested_keys_join_with_double_underscore() -> None:
    [column] = plan_columns([stats("appointment.date", "VARCHAR", dates=True)], ["call_log_id"])
    assert (column.name, column.sql_type) == ("appointment__date", "DATE")


def test_colliding_names_are_all_kept() -> None:
    columns = plan_columns(
        [stats("a.b", "VARCHAR"), stats('"a__b"', "BOOLEAN"), stats("Intent", "VARCHAR"),
         stats("intent", "VARCHAR"), stats('"call_log_id"', "VARCHAR")],
        ["call_log_id"])
    names = {column.path: column.name for column in columns}
    assert names == {'"a__b"': "a__b", "a.b": "a__b__2", "Intent": "Intent",
                     "intent": "intent__2", '"call_log_id"': "call_log_id__2"}
    reversed_names = {c.path: c.name for c in plan_columns(
        [stats(p, "VARCHAR") for p in reversed(list(names))], ["call_log_id"])}
    assert reversed_names == names, "names do not depend on the order fields were seen"


keys = st.text(alphabet="aAbB_._ é", min_size=1, max_size=5)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(keys, min_size=1, max_size=3), min_size=1, max_size=12))
def test_no_column_is_ever_silently_overwritten(key_paths: list[list[str]]) -> None:
    paths = sorted({".".join(json.dumps(key, ensure_ascii=False) for key in keys)
                    for keys in key_paths})
    columns = plan_columns([stats(path, "VARCHAR") for path in paths], ["call_log_id"])
    assert sorted(column.path for column in columns) == paths, "one column per path"
    names = [column.name.casefold() for column in columns] + ["call_log_id"]
    assert len(names) == len(set(names)), "names distinct, ignoring case like DuckDB"
