"""A SQL layer is one step: its tables built in order, stopped by a failed blocking test."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from osvi_pipeline.defs.assets.sql import build_layer_asset
from osvi_pipeline.defs.resources import build_resources
from osvi_pipeline.lib.sql_models import ColumnTest, SqlModel
from tests.support.config import make_settings


def test_a_failed_blocking_test_stops_the_layer_before_what_reads_the_table(
        tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    good = SqlModel("good", "select 1 as id", "fine", frozenset(), "marts")
    bad = SqlModel("bad", "select null::int as id", "no id", frozenset(), "marts",
                   tests=(ColumnTest("not_null", "id"),))
    reads_bad = SqlModel("reads_bad", "select * from bad", "downstream", frozenset({"bad"}),
                         "marts")
    layer = build_layer_asset("marts", [reads_bad, good, bad], {"good", "bad", "reads_bad"},
                              {"good": set(), "bad": set(), "reads_bad": {"bad"}})
    result = dg.materialize([layer], resources=build_resources(settings),
                            raise_on_error=False)
    assert not result.success  # the blocking check fails the step
    built = [event.asset_key.path[-1] for event in result.get_asset_materialization_events()]
    assert built == ["good", "bad"]  # in order; `reads_bad` never built on the bad rows
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "not_null_id" and not check.passed
    assert check.metadata["failing_rows"].value == 1
    with duckdb.connect(str(settings.layout.pipeline_warehouse_path), read_only=True) as con:
        tables = {row[0] for row in con.execute("select table_name from duckdb_tables()")
                  .fetchall()}
    assert {"good", "bad"} <= tables and "reads_bad" not in tables
