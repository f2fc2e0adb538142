"""The landing sensor, the daily schedule and the job they launch, evaluated for real."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from osvi_pipeline.definitions import build_definitions
from osvi_pipeline.landing_days import local_days_of_utc_day
from tests.conftest import make_settings
from tests.pipeline_helpers import delivery, land, query


def test_a_utc_folder_maps_to_the_local_days_it_overlaps() -> None:
    day = date(2026, 11, 28)
    assert local_days_of_utc_day(day, "UTC") == [day]
    assert local_days_of_utc_day(day, "Asia/Kolkata") == [day, date(2026, 11, 29)]
    assert local_days_of_utc_day(day, "America/New_York") == [date(2026, 11, 27), day]


def test_sensor_requests_each_new_day_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, timezone="UTC")
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("landing_sensor")
    instance = dg.DagsterInstance.ephemeral()
    now = datetime.now(UTC).replace(microsecond=0)

    def evaluate(cursor: str | None) -> tuple[list[dg.RunRequest], str | None]:
        context = dg.build_sensor_context(cursor=cursor, instance=instance,
                                          resources=defs.resources, definitions=defs)
        result = sensor(context)
        assert isinstance(result, dg.SensorResult)
        return list(result.run_requests or []), result.cursor

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
    os.utime(max(settings.landing_dir.glob("*/*.parquet"), key=lambda p: p.stat().st_mtime_ns),
             ns=(10**19, 10**19))  # clearly newer than the cursor on any clock resolution
    again, _ = evaluate(cursor)
    assert [r.partition_key for r in again] == [today.isoformat()]


def test_schedule_materializes_the_day_that_just_closed(tmp_path: Path) -> None:
    defs = build_definitions(make_settings(tmp_path, timezone="Asia/Kolkata"))
    schedule = defs.resolve_schedule_def("daily_schedule")
    assert schedule.cron_schedule == "15 0 * * *"
    assert schedule.execution_timezone == "Asia/Kolkata"
    moment = datetime(2026, 11, 29, 0, 15, tzinfo=ZoneInfo("Asia/Kolkata"))
    request = schedule(dg.build_schedule_context(scheduled_execution_time=moment))
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == "2026-11-28"


def test_the_job_the_sensor_launches_builds_and_publishes_everything(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    land(settings, [delivery(datetime(2026, 11, 28, 10, tzinfo=UTC),
                             {"call_log_id": "j1", "call_trigger_data": {"campaign": "x"}})])
    defs = build_definitions(settings)
    result = defs.resolve_job_def("warehouse_job").execute_in_process(
        partition_key="2026-11-28", instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert query(settings, "select campaign, calls from campaign_daily") == [("x", 1)]
