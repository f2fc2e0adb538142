"""Incremental runs give exactly the tables a from-scratch build gives (real asset graph)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from osvi_core.settings import Settings
from osvi_pipeline.warehouse.change_log import restrict_to_scope
from tests.support.config import make_settings
from tests.support.histories import DAY, DAY1, differences, integrations_file, landings, seed_call
from tests.support.pipeline import delivery, land, query, run


def builds(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """asset name -> 'full' or 'incremental', from the runs' materialization metadata."""
    return {event.asset_key.path[-1]: str(event.materialization.metadata["build"].value)
            for event in result.get_asset_materialization_events()
            if "build" in event.materialization.metadata}


LOAD_DAYS = ["2026-11-26", "2026-11-27", "2026-11-28", "2026-11-27"]  # landings()' days


def day_by_day(runs_in: Settings, scratch: Settings, only_new_files: bool = False
               ) -> list[dg.ExecuteInProcessResult]:
    """Land each of landings() in both warehouses; run its day in `runs_in` alone."""
    runs = []
    for rows, day in zip(landings(), LOAD_DAYS, strict=True):
        land(runs_in, rows)
        land(scratch, rows)
        runs.append(run(runs_in, day, only_new_files=only_new_files))
    return runs


def test_day_by_day_and_a_late_reload_equal_one_full_build(tmp_path: Path) -> None:
    integrations = integrations_file(tmp_path / "integrations.yaml")
    daily = make_settings(tmp_path / "daily", integrations=integrations)
    scratch = make_settings(tmp_path / "scratch", integrations=integrations)
    per_run = [builds(result) for result in day_by_day(daily, scratch)]
    run(scratch, "2026-11-26", "2026-11-28")

    assert differences(daily.layout.warehouse_path, scratch.layout.warehouse_path) == {}
    # The later runs really took the incremental path (else this test proves nothing).
    for later in per_run[1:]:
        for model in ("call_deliveries", "calls", "data_capture_fields", "call_trigger_fields",
                      "structured_output", "agent_call_days", "agent_field_days"):
            assert later[model] == "incremental", (model, later)
    # A type conflict that keeps the column VARCHAR is a catalog change only; a new field
    # rebuilds the wide table from its kept leaves.
    assert per_run[1]["data_capture"] == "incremental"
    assert per_run[2]["data_capture"] == per_run[3]["data_capture"] == "full"


def test_an_attempt_takes_its_calls_campaign_from_another_day_in_an_incremental_run(
        tmp_path: Path) -> None:
    """campaign_daily is rebuilt by day, and an attempt reported on day 2 for a call first
    delivered on day 1 still counts under that call's campaign when a late call changes day 2,
    as in a full build."""
    integrations = integrations_file(tmp_path / "integrations.yaml")
    runs = make_settings(tmp_path / "runs", integrations=integrations)
    full = make_settings(tmp_path / "full", integrations=integrations)
    status = {"call_log_id": "dialled-1", "call_status": "picked", "executionMode": "prod"}
    loads = [[delivery(DAY1, {"call_log_id": "dialled-1",
                              "call_trigger_data": {"campaign": "Renewals"}})],
             [delivery(DAY1 + DAY, status, integration="status"),
              delivery(DAY1 + DAY, {"call_log_id": "other",
                                    "call_trigger_data": {"campaign": "Renewals"}})],
             [delivery(DAY1 + DAY + timedelta(hours=2), {
                 "call_log_id": "late", "call_trigger_data": {"campaign": "Renewals"}})]]
    for rows, day in zip(loads, ["2026-11-26", "2026-11-27", "2026-11-27"], strict=True):
        land(runs, rows)
        land(full, rows)
        last = run(runs, day, only_new_files=True)
    assert builds(last)["campaign_daily"] == "incremental"
    run(full, "2026-11-26", "2026-11-27")
    daily = "select call_date, campaign, calls, attempts, reach_rate from campaign_daily order by 1"
    assert query(runs, daily) == query(full, daily) == [
        (date(2026, 11, 26), "Renewals", 1, 0, None),
        (date(2026, 11, 27), "Renewals", 2, 1, 1.0)]


def test_a_setting_the_sql_reads_rebuilds_downstream_in_full(tmp_path: Path) -> None:
    rows = [delivery(DAY1, {"call_log_id": "c1", "call_trigger_data": {"team": "blue",
                                                                        "campaign": "x"}}),
            delivery(DAY1 + DAY, {"call_log_id": "c2", "call_trigger_data": {"team": "red"}})]
    settings = make_settings(tmp_path)
    land(settings, rows)
    run(settings, "2026-11-26", "2026-11-27")
    changed = Settings(**{**settings.model_dump(), "campaign_keys": "team"})
    reran = builds(run(changed, "2026-11-27"))
    assert reran["call_deliveries"] == reran["calls"] == reran["call_trigger_fields"] == "full"
    with duckdb.connect(str(changed.layout.warehouse_path), read_only=True) as con:
        assert con.execute("select call_log_id, campaign from calls order by 1").fetchall() == [
            ("c1", "blue"), ("c2", "red")]


def test_restricting_a_query_to_the_changed_keys_keeps_aliases_and_ctes() -> None:
    sql = ("with calls_today as (select * from calls) "
           "select c.call_log_id from calls_today join calls as c using (call_log_id) "
           "join call_attempts using (call_log_id) join deliveries d on true")
    restricted = restrict_to_scope(sql, "call_log_id",
                                   {"calls": ("call_log_id", "call_date"),
                                    "call_attempts": ("call_log_id", None)})
    con = duckdb.connect()
    con.execute("create table calls as select 'a' as call_log_id, date '2026-11-26' as call_date "
                "union all select 'b', date '2026-11-27'")
    con.execute("create table call_attempts as select call_log_id from calls")
    con.execute("create table deliveries as select 1 as x")
    con.execute("create table _scope as select 'b' as key")
    con.execute("create table _scope_days as select date '2026-11-27' as key")
    assert con.execute(restricted).fetchall() == [("b",)]
    assert restricted.count("_scope)") == 3  # the CTE's read, `c` and call_attempts
    assert restricted.count("_scope_days") == 2  # the reads of calls, which has a day column
    assert '"deliveries" AS "d"' in restricted or "deliveries AS d" in restricted
    # A read marked `/* every day */` is left whole (a lookup whatever the day).
    whole = restrict_to_scope("select * from calls /* every day */ as c join calls as d "
                              "using (call_log_id)", "call_log_id", {"calls": ("call_log_id",
                                                                               "call_date")})
    assert whole.count("_scope)") == 1 and whole.count("_scope_days") == 1, whole
    # The days are a filter, not the key: a call outside them is not read.
    con.execute("update _scope_days set key = date '2026-11-26'")
    assert con.execute(restricted).fetchall() == []


@pytest.mark.parametrize("pii", ["keep", "mask"])
def test_tables_an_earlier_version_built_are_dropped_with_their_watermarks(
        tmp_path: Path, pii: str) -> None:
    settings = make_settings(tmp_path, pii=pii)
    land(settings, [delivery(DAY1, seed_call())])
    run(settings, "2026-11-26")
    # What a version that still built `section_leaves` left in its files (the working file,
    # and the published copy, whose watermarks are its own).
    files = [settings.layout.pipeline_warehouse_path,
             *settings.layout.pipeline_warehouse_path.parent.glob("published-*.duckdb")]
    assert len(files) == 2
    for database in files:
        with duckdb.connect(str(database)) as con:
            con.execute("create table section_leaves as select 1 as stale")
            con.execute("insert into osvi_state.models values ('section_leaves', 0, 'old')")
    run(settings, "2026-11-26")
    run(settings, "2026-11-26")  # both published copies written since
    for database in (*files, settings.layout.warehouse_path):
        with duckdb.connect(str(database), read_only=True) as con:
            tables = {row[0] for row in con.execute("select table_name from duckdb_tables()")
                      .fetchall()}
            models = {row[0] for row in con.execute("select model from osvi_state.models")
                      .fetchall()}
        assert "section_leaves" not in tables | models, database
        assert "data_capture_fields" in tables


def deliveries_load(result: dg.ExecuteInProcessResult) -> tuple[str, int]:
    """How the deliveries step loaded: 'new files appended' or 'window replaced', files read."""
    [event] = [event for event in result.get_asset_materialization_events()
               if event.asset_key.path[-1] == "deliveries"]
    metadata = event.materialization.metadata
    return str(metadata["load"].value), int(metadata["landing_files_read"].value)


@pytest.mark.parametrize("templates", [False, True])
def test_sensor_runs_append_only_new_files_and_equal_a_full_build(
        tmp_path: Path, templates: bool) -> None:
    """The landing sensor's runs read only the files not loaded yet (a per-file watermark);
    the result is the full build's, and a vanished file falls back to replacing the day."""
    integrations = integrations_file(tmp_path / "integrations.yaml") if templates else None
    sensed = make_settings(tmp_path / "sensed", integrations=integrations)
    scratch = make_settings(tmp_path / "scratch", integrations=integrations)
    how = [deliveries_load(result)
           for result in day_by_day(sensed, scratch, only_new_files=True)]
    assert how[:3] == [("window replaced", 1)] * 3  # first loads of their day
    assert how[3] == ("new files appended", 1)  # the late deliveries' file alone
    assert deliveries_load(run(sensed, "2026-11-27", only_new_files=True)) == (
        "new files appended", 0)
    run(scratch, "2026-11-26", "2026-11-28")
    assert differences(sensed.layout.warehouse_path, scratch.layout.warehouse_path) == {}

    # A file loaded before is gone (moved away by hand): appending would keep its rows.
    for settings in (sensed, scratch):  # the day's first load: its larger file
        files = settings.layout.landing_dir.glob("received_date=2026-11-27/*.parquet")
        max(files, key=lambda file: pq.read_metadata(file).num_rows).unlink()
    assert deliveries_load(run(sensed, "2026-11-27", only_new_files=True)) == (
        "window replaced", 1)
    run(scratch, "2026-11-26", "2026-11-28")
    assert differences(sensed.layout.warehouse_path, scratch.layout.warehouse_path) == {}


def test_a_call_that_moves_to_an_earlier_day_leaves_its_old_day(tmp_path: Path) -> None:
    """The per-day aggregates rebuild the days a changed call was on before and after."""
    call = {"call_log_id": "c1", "agent_name": "Asha", "data_capture": {"nps": 9},
            "call_trigger_data": {"campaign": "x"}}
    settings = make_settings(tmp_path / "daily")
    scratch = make_settings(tmp_path / "scratch")
    later, earlier = delivery(DAY1 + DAY, call), delivery(DAY1, call)
    for target in (settings, scratch):
        land(target, [later])
    run(settings, "2026-11-27")
    for target in (settings, scratch):  # an earlier delivery of it, imported late
        land(target, [earlier])
    moved = builds(run(settings, "2026-11-26"))
    run(scratch, "2026-11-26", "2026-11-27")

    assert moved["agent_call_days"] == moved["agent_field_days"] == "incremental"
    assert query(settings, "select call_date::varchar, calls from agent_call_days") == [
        ("2026-11-26", 1)]
    assert differences(settings.layout.warehouse_path, scratch.layout.warehouse_path) == {}
