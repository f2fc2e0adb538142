"""The wide tables' nodes, taken from the long tables (osvi_pipeline/wide_builds.py), against
the definition: every leaf outside arrays, empty objects included, and every array whole."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osvi_pipeline.lib.json_paths import parse_path
from osvi_pipeline.lib.sql_models import SQL_DIR
from osvi_pipeline.warehouse.model_runner import create_macros
from osvi_pipeline.warehouse.wide_tables import LONG_TABLES, nodes_select
from tests.support.json_strategies import json_values

Node = tuple[tuple[str, ...], str, Any, bool | None]  # key path, type, value, fits_bigint


def expected_nodes(doc: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[Node]:
    for key, value in doc.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            yield from expected_nodes(value, path)
        else:
            yield path, json_type(value), value, fits_bigint(value)


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):  # DuckDB reads integers beyond 64 bits as doubles
        return "BIGINT" if -(2**63) <= value < 2**64 else "DOUBLE"
    return {str: "VARCHAR", float: "DOUBLE", type(None): "NULL", dict: "OBJECT",
            list: "ARRAY"}[type(value)]


def fits_bigint(value: Any) -> bool | None:
    if json_type(value) != "BIGINT":
        return None
    return bool(-(2**63) <= value < 2**63)


def wide_nodes(section: str, docs: dict[str, dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The nodes select run on a `calls` table of `docs` and the real long-table model."""
    con = duckdb.connect()
    create_macros(con)
    con.execute("create table calls (call_log_id varchar, call_date date default "
                "date '2026-11-26', matched_condition varchar, data_capture json, "
                "structured_output json, call_trigger_data json)")
    for call_id, doc in docs.items():
        con.execute(f"insert into calls (call_log_id, matched_condition, {section}) "
                    "values ($id, 'cond', $doc)", {"id": call_id, "doc": json.dumps(doc)})
    long_table = LONG_TABLES[section][0]
    model = (SQL_DIR / "fields" / f"{long_table}.sql").read_text(encoding="utf-8")
    con.execute(f"create table {long_table} as {model}")
    return con.execute(f"select call_log_id, matched_condition, path, type, value::varchar, "
                       f"fits_bigint from ({nodes_select(section)})").fetchall()


def as_nodes(rows: list[tuple[Any, ...]]) -> list[tuple[str, Node]]:
    return sorted(((call_id, (tuple(map(str, parse_path(path))), type_, json.loads(value),
                              fits))
                   for call_id, _, path, type_, value, fits in rows), key=repr)


def test_arrays_are_whole_nodes_and_their_elements_are_not() -> None:
    doc = {"appointment": {"date": "2026-12-01", "slots": [{"at": 9}, [1, 2]]},
           "reminders": [], "notes": {}, "odd [key]": {"": [True, None]}, "n": -3}
    rows = wide_nodes("structured_output", {"c1": doc})
    assert {(path, type_, value) for _, _, path, type_, value, _ in rows} == {
        ("appointment.date", "VARCHAR", '"2026-12-01"'),
        ("appointment.slots", "ARRAY", '[{"at":9},[1,2]]'),
        ("reminders", "ARRAY", "[]"),
        ("notes", "OBJECT", "{}"),
        ('"odd [key]".""', "ARRAY", "[true,null]"),
        ("n", "BIGINT", "-3"),
    }
    assert {row[:2] for row in rows} == {("c1", "cond")}


def test_data_capture_nodes_carry_the_calls_condition() -> None:
    rows = wide_nodes("data_capture", {"c1": {"nps": 9}})
    assert rows == [("c1", "cond", "nps", "BIGINT", "9", True)]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=6), st.dictionaries(st.text(max_size=8), json_values,
                                                            max_size=5), max_size=3))
def test_any_sections_give_exactly_the_defined_nodes(docs: dict[str, dict[str, Any]]) -> None:
    rows = wide_nodes("structured_output", docs)
    expected = sorted(((call_id, node) for call_id, doc in docs.items()
                       for node in expected_nodes(doc)
                       if node[0] != ("_matched_condition",)), key=repr)
    assert as_nodes(rows) == expected
