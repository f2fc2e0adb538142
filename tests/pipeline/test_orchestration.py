"""The landing sensor, the daily schedule and the job they launch, evaluated for real."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from osvi_core.settings import Settings
from osvi_pipeline.definitions import build_assets, build_definitions
from osvi_pipeline.lib.local_days import local_days_of_utc_day
from tests.support.config import make_settings
from tests.support.pipeline import delivery, land, landing_sensor_evaluator, query, run


def test_a_utc_folder_maps_to_the_local_days_it_overlaps() -> None:
    day = date(2026, 11, 28)
    assert local_days_of_utc_day(day, "UTC") == [day]
    assert local_days_of_utc_day(day, "Asia/Kolkata") == [day, date(2026, 11, 29)]
    assert local_days_of_utc_day(day, "America/New_York") == [date(2026, 11, 27), day]


def _touch_newest_landing_file(settings: Settings) -> None:
    files = settings.layout.landing_dir.glob("*/*.parquet")
    os.utime(max(files, key=lambda p: p.stat().st_mtime_ns),
             ns=(10**19, 10**19))  # clearly newer than the cursor on any clock resolution


# Definitions loaded before anything landed start their partitions today (the earliest landed
# day, else today); these tests land days before the load, as a deployment that has run a while.
SINCE_2024 = date(2024, 1, 1)


def test_sensor_requests_each_new_day_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, timezone="UTC", first_day=SINCE_2024)
    defs = build_definitions(settings)
    evaluate = landing_sensor_evaluator(defs, dg.DagsterInstance.ephemeral())
    now = datetime.now(UTC).replace(microsecond=0)

    assert evaluate(None)[0] == []
    land(settings, [delivery(now - timedelta(days=1), {"call_log_id": "old"}),
                    delivery(now, {"call_log_id": "new"})])
    requests, cursor = evaluate(None)
    today, yesterday = now.date(), now.date() - timedelta(days=1)
    assert sorted(r.partition_key or "" for r in requests) == [yesterday.isoformat(),
                                                                today.isoformat()]
    assert len({r.run_key for r in requests}) == 2
    assert evaluate(cursor)[0] == [], "nothing new, no run"
    land(settings, [delivery(now, {"call_log_id": "newer"})])
    _touch_newest_landing_file(settings)
    again, _ = evaluate(cursor)
    assert [r.partition_key for r in again] == [today.isoformat()]


def test_sensor_adds_no_run_for_a_day_whose_run_is_still_queued(tmp_path: Path) -> None:
    """A queued run loads its whole day when it starts, new files included: a second one
    would only repeat it (and runs slower than the sensor's minute would pile up)."""
    settings = make_settings(tmp_path, timezone="UTC", first_day=SINCE_2024)
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    evaluate = landing_sensor_evaluator(defs, instance)
    now = datetime.now(UTC).replace(microsecond=0)
    today, yesterday = now.date().isoformat(), (now.date() - timedelta(days=1)).isoformat()
    # Created, not yet launched (a QUEUED run can only be made through a code server; both
    # are runs that have not read landing yet).
    job = defs.resolve_job_def("warehouse_job")
    queued = instance.create_run_for_job(job, status=dg.DagsterRunStatus.NOT_STARTED,
                                         tags={"dagster/partition": today})
    # A re-execution from a later step does not load the day: it does not count.
    instance.create_run_for_job(job, status=dg.DagsterRunStatus.NOT_STARTED,
                                asset_selection={dg.AssetKey("calls")},
                                tags={"dagster/partition": yesterday})
    land(settings, [delivery(now - timedelta(days=1), {"call_log_id": "old"}),
                    delivery(now, {"call_log_id": "new"})])
    requests, cursor = evaluate(None)
    assert [r.partition_key for r in requests] == [yesterday], "today's run is waiting"

    instance.report_run_canceled(queued)  # no longer waiting: new files get a run again
    land(settings, [delivery(now, {"call_log_id": "newer"})])
    _touch_newest_landing_file(settings)
    assert [r.partition_key for r in evaluate(cursor)[0]] == [today]


def test_schedule_materializes_the_day_that_just_closed(tmp_path: Path) -> None:
    defs = build_definitions(make_settings(tmp_path, timezone="Asia/Kolkata",
                                           first_day=SINCE_2024))
    schedule = defs.resolve_schedule_def("daily_schedule")
    assert schedule.cron_schedule == "15 0 * * *"
    assert schedule.execution_timezone == "Asia/Kolkata"
    moment = datetime(2026, 11, 29, 0, 15, tzinfo=ZoneInfo("Asia/Kolkata"))
    request = schedule(dg.build_schedule_context(scheduled_execution_time=moment))
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == "2026-11-28"


def test_history_older_than_the_loaded_partitions_is_named_not_requested(tmp_path: Path) -> None:
    """Nothing had landed when the code location loaded (partitions from today); history
    imported since cannot be run until a reload, so the sensor says so instead of failing."""
    settings = make_settings(tmp_path, timezone="UTC")
    defs = build_definitions(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    land(settings, [delivery(now - timedelta(days=30), {"call_log_id": "imported"}),
                    delivery(now, {"call_log_id": "live"})])
    requests, _ = landing_sensor_evaluator(defs, dg.DagsterInstance.ephemeral())(None)
    assert [r.partition_key for r in requests] == [now.date().isoformat()]
    schedule = defs.resolve_schedule_def("daily_schedule")
    skipped = schedule(dg.build_schedule_context(scheduled_execution_time=now - timedelta(days=3)))
    assert isinstance(skipped, dg.SkipReason)


def test_the_job_the_sensor_launches_builds_and_publishes_everything(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    land(settings, [delivery(datetime(2026, 11, 28, 10, tzinfo=UTC),
                             {"call_log_id": "j1", "call_trigger_data": {"campaign": "x"}})])
    defs = build_definitions(settings)
    result = defs.resolve_job_def("warehouse_job").execute_in_process(
        partition_key="2026-11-28", instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert query(settings, "select campaign, calls from campaign_daily") == [("x", 1)]


def test_asset_graph_wires_models_to_their_inputs(tmp_path: Path) -> None:
    assets = build_assets(make_settings(tmp_path), date(2026, 1, 1))
    deps = {key.to_user_string(): sorted(d.to_user_string() for d in asset.asset_deps[key])
            for asset in assets for key in asset.keys}
    assert deps["calls"] == ["call_attempts", "call_deliveries"]
    assert deps["structured_output"] == ["structured_output_fields"]  # its leaves
    assert deps["data_capture"] == ["data_capture_fields"]
    assert deps["deliveries"] == []


def test_first_look_skips_days_loaded_after_their_newest_file(tmp_path: Path) -> None:
    """History built by `osvi materialize` before the sensor first looked is not loaded again
    day by day (a run per day would delay today's by as many runs)."""
    settings = make_settings(tmp_path, timezone="UTC", first_day=SINCE_2024)
    now = datetime.now(UTC).replace(microsecond=0)
    days = [(now - timedelta(days=n)).date().isoformat() for n in (3, 2)]
    land(settings, [delivery(now - timedelta(days=3), {"call_log_id": "a"}),
                    delivery(now - timedelta(days=2), {"call_log_id": "b"})])
    instance = dg.DagsterInstance.ephemeral()
    run(settings, days[0], days[1], instance=instance)
    land(settings, [delivery(now, {"call_log_id": "today"})])
    evaluate = landing_sensor_evaluator(build_definitions(settings), instance)
    requests, _ = evaluate(None)
    assert [r.partition_key for r in requests] == [now.date().isoformat()]


def _check_names(result: dg.ExecuteInProcessResult) -> set[str]:
    return {evaluation.check_name for evaluation in result.get_asset_check_evaluations()}


def test_micro_batches_leave_the_full_scan_checks_to_the_warehouse_job(tmp_path: Path) -> None:
    """The sensor's landing_job builds the same tables in one step per SQL layer, without the
    checks that scan whole tables; warehouse_job (the schedule's) runs them all."""
    settings = make_settings(tmp_path)
    land(settings, [delivery(datetime(2026, 11, 28, 10, tzinfo=UTC),
                             {"call_log_id": "m1", "call_trigger_data": {"campaign": "x"}})])
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    micro = defs.resolve_job_def("landing_job").execute_in_process(
        partition_key="2026-11-28", instance=instance)
    assert micro.success
    assert _check_names(micro) == {"landing_rows_equal_deliveries", "summary_delivered"}
    materialized = {event.asset_key.path[-1] for event in micro.get_asset_materialization_events()}
    # extraction drift is found and told by every run (issue 28), not only the daily one
    assert {"campaign_daily", "schema_changes", "contract_violations",
            "extraction_alerts"} <= materialized
    steps = {event.step_key for event in micro.all_events if event.step_key}
    assert {"staging_models", "core_models", "fields_models", "marts_models",
            "wide_tables"} <= steps
    assert len(steps) <= 10, steps
    assert query(settings, "select campaign, calls from campaign_daily") == [("x", 1)]

    full = defs.resolve_job_def("warehouse_job").execute_in_process(
        partition_key="2026-11-28", instance=instance)
    assert {"unique_call_log_id", "not_null_call_date", "every_delivery_is_a_call_or_a_rejection",
            "data_capture_has_no_type_conflicts",
            "no_extraction_changes_on_the_latest_day"} <= _check_names(full)
    assert all(evaluation.passed for evaluation in full.get_asset_check_evaluations()
               if evaluation.check_name != "no_rejected_deliveries")


def test_a_table_chosen_alone_is_built_alone(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    land(settings, [delivery(datetime(2026, 11, 28, 10, tzinfo=UTC), {"call_log_id": "s1"})])
    run(settings, "2026-11-28")
    defs = build_definitions(settings)
    chosen = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey("call_attempts")}).execute_in_process(
        instance=dg.DagsterInstance.ephemeral())
    assert chosen.success
    assert [event.asset_key.path[-1] for event in chosen.get_asset_materialization_events()] == [
        "call_attempts"]
