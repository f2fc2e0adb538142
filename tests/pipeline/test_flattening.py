"""Flattening of sections into leaf rows (the real field-table models and their json_leaves
macro on DuckDB), and the exact rebuild of each section from its rows (osvi_pipeline/paths.py)."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osvi_pipeline.lib.json_paths import parse_path, rebuild
from osvi_pipeline.lib.sql_models import SQL_DIR
from osvi_pipeline.warehouse.model_runner import create_macros
from tests.support.config import sample_payload_bytes
from tests.support.json_strategies import json_values

# section -> (its long table's model, the column holding the path)
FIELD_MODELS = {section: ((SQL_DIR / "fields" / f"{table}.sql").read_text(encoding="utf-8"),
                          path_column)
                for section, table, path_column in (
                    ("data_capture", "data_capture_fields", "field"),
                    ("structured_output", "structured_output_fields", "path"),
                    ("call_trigger_data", "call_trigger_fields", "path"))}
CON = duckdb.connect()


def leaves(section: str, doc: dict[str, Any] | None,
           matched: str | None = None) -> list[tuple[Any, ...]]:
    """(path, value, value_type, value_text, value_number, value_bool) rows of one section."""
    columns = {"data_capture": None, "structured_output": None, "call_trigger_data": None}
    columns[section] = json.dumps(doc) if doc is not None else None
    cursor = CON.cursor()
    create_macros(cursor)
    cursor.execute(
        "create or replace temp table calls as select 'c1' as call_log_id, "
        "date '2026-11-26' as call_date, "
        "$m::varchar as matched_condition, $dc::json as data_capture, "
        "$so::json as structured_output, $tr::json as call_trigger_data",
        {"m": matched, "dc": columns["data_capture"], "so": columns["structured_output"],
         "tr": columns["call_trigger_data"]})
    model, path_column = FIELD_MODELS[section]
    rows = cursor.execute(
        f"select {path_column}, value::varchar, value_type, value_text, value_number, "
        f"value_bool from ({model}) order by 1").fetchall()
    cursor.close()
    return rows


def test_seed_sample_flattens_to_the_expected_rows() -> None:
    payload = json.loads(sample_payload_bytes())
    assert leaves("data_capture", payload["data_capture"]) == [
        ("appointment_confirmed", "true", "boolean", None, None, True),
        ("customer_name", '"John Doe"', "string", "John Doe", None, None),
        ("preferred_time", '"10:00 AM"', "string", "10:00 AM", None, None),
    ]
    assert leaves("structured_output", payload["structured_output"]) == [
        ("appointment.date", '"2026-06-12"', "string", "2026-06-12", None, None),
        ("appointment.time", '"10:00"', "string", "10:00", None, None),
        ("intent", '"appointment_confirmation"', "string", "appointment_confirmation", None,
         None),
    ]
    assert [row[0] for row in leaves("call_trigger_data", payload["call_trigger_data"])] == [
        "campaign", "crm_id", "person_name", "phone_number"]


def test_nesting_arrays_nulls_and_empty_containers() -> None:
    doc = {"a": {"b": {"c": {"d": 1.5}}}, "reminders": [{"channel": "sms", "at": 60}, "x", 3],
           "gone": None, "empty": {}, "none": [], "grid": [[1, 2], []]}
    assert leaves("structured_output", doc) == [
        ("a.b.c.d", "1.5", "number", None, 1.5, None),
        ("empty", "{}", "object", None, None, None),
        ("gone", "null", "null", None, None, None),
        ("grid[0][0]", "1", "integer", None, 1.0, None),
        ("grid[0][1]", "2", "integer", None, 2.0, None),
        ("grid[1]", "[]", "array", None, None, None),
        ("none", "[]", "array", None, None, None),
        ("reminders[0].at", "60", "integer", None, 60.0, None),
        ("reminders[0].channel", '"sms"', "string", "sms", None, None),
        ("reminders[1]", '"x"', "string", "x", None, None),
        ("reminders[2]", "3", "integer", None, 3.0, None),
    ]


def test_matched_condition_is_a_column_not_a_field() -> None:
    doc = {"_matched_condition": "confirmed", "intent": "yes"}
    assert [row[0] for row in leaves("structured_output", doc, matched="confirmed")] == ["intent"]
    # In data_capture, or nested, a key of that name is an ordinary field.
    assert [row[0] for row in leaves("data_capture", doc)] == ['"_matched_condition"', "intent"]
    assert [row[0] for row in leaves("structured_output", {"a": doc})] == [
        'a."_matched_condition"', "a.intent"]


def test_missing_and_empty_sections_yield_no_rows() -> None:
    assert leaves("data_capture", None) == []
    assert leaves("data_capture", {}) == []


@pytest.mark.parametrize(
    ("key", "path"),
    [("customer name", '"customer name"'), ("a.b", '"a.b"'), ('say "hi"', '"say \\"hi\\""'),
     ("नाम", '"नाम"'), ("", '""'), ("back\\slash", '"back\\\\slash"'), ("[0]", '"[0]"'),
     ("crm_id", "crm_id"), ("_private", '"_private"'), ("2nd_try", '"2nd_try"')],
)
def test_odd_keys_are_escaped_unambiguously(key: str, path: str) -> None:
    [row] = leaves("data_capture", {key: 1})
    assert row[0] == path
    assert parse_path(path) == [key]
    # Nested keys are spelled by json_tree, top-level ones by the macro: the same way.
    [nested] = leaves("data_capture", {"n": {key: [1]}})
    assert nested[0] == f"n.{path}[0]"
    assert parse_path(nested[0]) == ["n", key, 0]


def test_unicode_values_survive() -> None:
    [row] = leaves("data_capture", {"city": "Zürich, 東京, दिल्ली"})
    assert row[3] == "Zürich, 東京, दिल्ली"



# What a leaf is, said with json_tree alone: the macro must give exactly these rows.
JSON_TREE_LEAVES = """
select substr(fullkey, 3), value::varchar, type from json_tree($doc::json)
where parent is not null and (type not in ('OBJECT', 'ARRAY') or value::varchar in ('{}', '[]'))
"""
VALUE_TYPES = {"VARCHAR": "string", "BOOLEAN": "boolean", "DOUBLE": "number", "NULL": "null",
               "OBJECT": "object", "ARRAY": "array", "UBIGINT": "integer", "BIGINT": "integer"}


def json_tree_leaves(doc_text: str) -> list[tuple[str, str, str]]:
    rows = CON.cursor().execute(JSON_TREE_LEAVES, {"doc": doc_text}).fetchall()
    return sorted((path, value, VALUE_TYPES[type_]) for path, value, type_ in rows)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_the_leaves_are_json_trees_leaves(doc: dict[str, Any]) -> None:
    rows = leaves("call_trigger_data", doc)
    assert sorted(row[:3] for row in rows) == json_tree_leaves(json.dumps(doc))


def test_duplicate_keys_keep_every_value_as_json_tree_does() -> None:
    text = '{"a": 1, "b": {"x": 1, "x": [2]}, "a": "again"}'
    cursor = CON.cursor()
    create_macros(cursor)
    rows = cursor.execute(
        "with docs as (select $doc::json as doc) select path, value::varchar, value_type "
        "from json_leaves(docs) order by all", {"doc": text}).fetchall()
    assert rows == json_tree_leaves(text) == [
        ("a", '"again"', "string"), ("a", "1", "integer"), ("b.x", "1", "integer"),
        ("b.x[0]", "2", "integer")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_any_object_is_rebuilt_exactly_from_its_leaves(doc: dict[str, Any]) -> None:
    rows = leaves("call_trigger_data", doc)
    assert rebuild((path, value) for path, value, *_ in rows) == doc
