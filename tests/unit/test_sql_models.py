"""Every dbt_like_sql model: a header comment, and dependencies found from what it reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from osvi_pipeline.lib.sql_models import (
    ColumnTest,
    ModelError,
    SqlModel,
    in_build_order,
    load_models,
    read_tables,
)


def test_models_have_headers_and_the_expected_dependencies() -> None:
    models = {model.name: model for model in load_models()}
    assert all("Grain" in model.description or "grain" in model.description.lower()
               for model in models.values()), "each header states the table's grain"
    assert {name: sorted(model.reads) for name, model in models.items()} == {
        "call_deliveries": ["deliveries"],
        "rejected_deliveries": ["deliveries"],
        "calls": ["call_attempts", "call_deliveries"],
        "call_attempts": ["deliveries"],
        "data_capture_fields": ["calls"],
        "structured_output_fields": ["calls"],
        "call_trigger_fields": ["calls"],
        "campaign_daily": ["call_attempts", "calls"],
        "campaign_outcomes": ["calls"],
        "campaign_field_days": ["calls", "data_capture_fields"],
        "campaign_field_rates": ["campaign_daily", "campaign_field_days"],
        "daily_summary": ["calls", "campaign_outcomes"],
        "agent_call_days": ["calls"],
        "agent_field_days": ["calls", "data_capture_fields", "structured_output_fields"],
        "schema_changes": ["agent_call_days", "agent_field_days"],
        "campaign_fill_rates": ["agent_call_days", "agent_field_days"],
        "contract_violations": ["call_deliveries", "contract_paths", "contracts"],
    }


def test_layer_folders_headers_and_tests_are_read() -> None:
    models = {model.name: model for model in load_models()}
    assert {name: model.group for name, model in models.items()}["calls"] == "core"
    assert {model.group for model in models.values()} == {"staging", "core", "fields", "marts"}
    assert models["calls"].incremental == "call_log_id"
    assert models["call_deliveries"].incremental == "delivery_id"
    assert models["daily_summary"].incremental is None  # materialized: full
    assert models["campaign_daily"].incremental == "call_date"
    assert ColumnTest("unique", "call_log_id") in models["calls"].tests
    assert "materialized" not in models["calls"].description, "header lines are not prose"


@pytest.mark.parametrize(("header", "error"), [
    ("-- t: a table.\n-- Grain: row.\n",
     "no '-- materialized: full' or '-- materialized: incremental(<key>)' header line"),
    ("-- materialized: incremental(phone)\n", "materialized 'incremental(phone)' is not"),
    ("-- materialized: sometimes\n", "materialized 'sometimes' is not"),
    ("-- materialized: full\n-- tests: unique(a), positive(b)\n",
     "test 'positive(b)' is not one of unique(<column>), not_null(<column>)"),
])
def test_a_header_that_cannot_be_used_names_the_file(tmp_path: Path, header: str,
                                                     error: str) -> None:
    (tmp_path / "marts").mkdir()
    (tmp_path / "marts" / "broken.sql").write_text(header + "select 1 as a, 2 as b\n")
    with pytest.raises(ModelError) as raised:
        load_models(tmp_path)
    assert str(raised.value).startswith("dbt_like_sql/marts/broken.sql: ")
    assert error in str(raised.value)


def test_ctes_and_table_functions_are_not_dependencies() -> None:
    sql = "with x as (select * from calls) select * from x, json_tree(x.doc) as t"
    assert read_tables(sql) == frozenset({"calls"})


def _model(name: str, reads: set[str]) -> SqlModel:
    return SqlModel(name, "select 1", name, frozenset(reads), "marts")


def test_a_layer_builds_each_model_after_the_models_it_reads() -> None:
    layer = [_model("b", {"a", "calls"}), _model("a", {"calls"}), _model("c", set())]
    assert [model.name for model in in_build_order(layer)] == ["a", "b", "c"]
    with pytest.raises(ModelError, match="read each other"):
        in_build_order([_model("x", {"y"}), _model("y", {"x"})])
