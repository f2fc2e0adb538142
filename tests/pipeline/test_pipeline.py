"""The real Dagster materialization on temp dirs: landing Parquet in, DuckDB tables out."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from osvi_core.settings import Settings
from tests.support.config import make_settings, sample_payload_bytes
from tests.support.pipeline import delivery, land, query, run

# 2026-11-28 in Asia/Kolkata (UTC+05:30) runs from 2026-11-27T18:30Z to 2026-11-28T18:30Z.
DAY1 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
DAY3 = DAY1 + timedelta(days=2)


@pytest.fixture
def kolkata(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, timezone="Asia/Kolkata")


def call(call_id: str, **sections: Any) -> dict[str, Any]:
    body = {"call_log_id": call_id, "phone_number": "+911234567890", "agent_name": "agent_a",
            "call_status": "picked", "call_type": "outbound"}
    body.update(sections)
    return body


def test_the_seed_sample_becomes_a_call_with_typed_fields(kolkata: Settings) -> None:
    land(kolkata, [delivery(DAY1, json.loads(sample_payload_bytes()))])
    run(kolkata, "2026-11-28")
    [row] = query(kolkata, "select call_log_id, call_date, agent_name, campaign, crm_id, "
                           "person_name, intent, matched_condition, delivery_count from calls")
    assert row == ("8de63236-e013-42dd-9d99-1be5521701d4", date(2026, 11, 28),
                   "agent_IsZ3Q6Sf_60Eh26XQMGbz-R_og", "june-renewals", "lead_42", "John Doe",
                   "appointment_confirmation", None, 1)
    assert query(kolkata, "select customer_name, appointment_confirmed, preferred_time "
                          "from data_capture") == [("John Doe", True, "10:00 AM")]
    assert query(kolkata, "select appointment__date, appointment__time, intent "
                          "from structured_output") == [
        (date(2026, 6, 12), "10:00", "appointment_confirmation")]


def test_delivery_bodies_are_stored_zstd_compressed(kolkata: Settings) -> None:
    land(kolkata, [delivery(DAY1 + timedelta(minutes=i), call(f"c{i}")) for i in range(3)])
    run(kolkata, "2026-11-28")
    encodings = dict(query(kolkata, "select column_name, list(distinct compression) "
                                    "from pragma_storage_info('deliveries') "
                                    "where segment_type = 'VARCHAR' group by all"))
    assert encodings["body"] == ["ZSTD"]
    assert "ZSTD" not in encodings["delivery_id"]  # only the bodies: short keys stay as they were


def test_rerunning_a_day_leaves_the_same_rows(kolkata: Settings) -> None:
    land(kolkata, [delivery(DAY1 + timedelta(minutes=i), call(f"c{i}")) for i in range(5)])
    run(kolkata, "2026-11-28")
    tables = ["deliveries", "calls", "data_capture_fields", "rejected_deliveries"]
    before = {t: query(kolkata, f"select count(*) from {t}")[0][0] for t in tables}
    run(kolkata, "2026-11-28")
    after = {t: query(kolkata, f"select count(*) from {t}")[0][0] for t in tables}
    assert before == after == {"deliveries": 5, "calls": 5, "data_capture_fields": 0,
                               "rejected_deliveries": 0}


def test_a_backfill_loads_several_days_in_one_run(kolkata: Settings) -> None:
    land(kolkata, [delivery(day + timedelta(minutes=i), call(f"{day:%d}-{i}"))
                   for day, count in ((DAY1, 2), (DAY2, 3), (DAY3, 4)) for i in range(count)])
    instance = dg.DagsterInstance.ephemeral()
    load = run(kolkata, "2026-11-28", "2026-11-30", instance=instance)
    assert load.dagster_run.tags["dagster/asset_partition_range_start"] == "2026-11-28"
    assert load.dagster_run.tags["dagster/asset_partition_range_end"] == "2026-11-30"
    assert len(instance.get_runs()) == 1, "one run loads every day and rebuilds the rest"
    assert query(kolkata, "select count(*) from calls") == [(9,)]
    messages = [entry.user_message for entry in instance.all_logs(load.run_id)]
    assert "9 deliveries for 2026-11-28..2026-11-30" in messages  # the days, both inclusive
    assert query(kolkata, "select received_day, count(*) from deliveries group by all "
                          "order by 1") == [(date(2026, 11, 28), 2), (date(2026, 11, 29), 3),
                                            (date(2026, 11, 30), 4)]


def test_days_follow_osvi_timezone_not_utc(kolkata: Settings) -> None:
    late_utc_evening = datetime(2026, 11, 28, 19, 0, tzinfo=UTC)  # 00:30 on the 29th in Kolkata
    land(kolkata, [delivery(late_utc_evening, call("late"))])
    instance = dg.DagsterInstance.ephemeral()
    load = run(kolkata, "2026-11-28", instance=instance)
    assert "0 deliveries for 2026-11-28" in [entry.user_message
                                             for entry in instance.all_logs(load.run_id)]
    assert query(kolkata, "select count(*) from deliveries") == [(0,)]
    run(kolkata, "2026-11-29")
    assert query(kolkata, "select call_date from calls") == [(date(2026, 11, 29),)]


def test_changing_osvi_timezone_moves_every_loaded_delivery_to_its_new_day(
        tmp_path: Path) -> None:
    """Started on the default UTC, then set to the team's zone: the next run (here one for an
    empty day, as a sensor or schedule run for another day would be) re-days the history."""
    utc = make_settings(tmp_path, timezone="UTC")
    land(utc, [delivery(datetime(2026, 11, 28, 10, 0, tzinfo=UTC), call("day")),
               delivery(datetime(2026, 11, 28, 20, 0, tzinfo=UTC), call("night")),
               delivery(datetime(2026, 11, 29, 10, 0, tzinfo=UTC), call("next"))])
    run(utc, "2026-11-28", "2026-11-29")
    by_call = "select call_log_id, call_date from calls order by 1"
    assert query(utc, by_call) == [("day", date(2026, 11, 28)), ("next", date(2026, 11, 29)),
                                   ("night", date(2026, 11, 28))]

    kolkata = make_settings(tmp_path, timezone="Asia/Kolkata")
    instance = dg.DagsterInstance.ephemeral()
    load = run(kolkata, "2026-11-30", instance=instance)
    assert query(kolkata, by_call) == [("day", date(2026, 11, 28)),
                                       ("next", date(2026, 11, 29)),
                                       ("night", date(2026, 11, 29))]  # 01:30 in Kolkata
    assert query(kolkata, "select call_date, calls from campaign_daily order by 1") == [
        (date(2026, 11, 28), 1), (date(2026, 11, 29), 2)]
    assert load.asset_materializations_for_node("deliveries")[0].metadata[
        "relabeled_for_timezone"].value == 1
    assert any("1 deliveries loaded under another zone" in (entry.user_message or "")
               for entry in instance.all_logs(load.run_id))


def test_a_call_delivered_on_two_days_is_one_call(kolkata: Settings) -> None:
    first = call("same", structured_output={"intent": "callback"},
                 call_trigger_data={"campaign": "renewals"})
    retry = call("same", call_summary="Asked for a callback.",
                 structured_output={"intent": "confirmed"})
    land(kolkata, [delivery(DAY1, first), delivery(DAY2, retry, integration="sheet")])
    run(kolkata, "2026-11-28", "2026-11-29")
    [row] = query(kolkata, "select call_date, delivery_count, integration_count, call_summary, "
                           "intent, campaign, first_received_at < last_received_at from calls")
    assert row == (date(2026, 11, 28), 2, 2, "Asked for a callback.", "confirmed", "renewals",
                   True)


def test_new_fields_and_type_conflicts_across_runs(kolkata: Settings) -> None:
    land(kolkata, [delivery(DAY1, call("a", data_capture={"age": 41, "vip": True}))])
    first = run(kolkata, "2026-11-28")
    assert query(kolkata, "select age, vip from data_capture") == [(41, True)]
    land(kolkata, [delivery(DAY2, call("b", data_capture={"age": "forty", "email": "x@y.z"}))])
    second = run(kolkata, "2026-11-28", "2026-11-29")
    assert query(kolkata, "select call_log_id, age, vip, email from data_capture order by 1") == [
        ("a", "41", True, None), ("b", "forty", None, "x@y.z")]
    assert query(kolkata, "select column_name, column_type, conflict from field_catalog "
                          "where table_name = 'data_capture' order by 1") == [
        ("age", "VARCHAR", True), ("email", "VARCHAR", False), ("vip", "BOOLEAN", False)]
    [metadata] = [event.materialization.metadata
                  for event in second.get_asset_materialization_events()
                  if event.asset_key == dg.AssetKey("data_capture")]
    assert metadata["new_columns"].value == ["email"]
    assert "age" in metadata["type_conflicts"].value  # type: ignore[operator]
    [warning] = [e for e in second.get_asset_check_evaluations()
                 if e.check_name == "data_capture_has_no_type_conflicts"]
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    assert first.success


def test_conditional_schemas_get_a_column_and_a_view_per_condition(kolkata: Settings) -> None:
    land(kolkata, [
        delivery(DAY1, call("c1", structured_output={
            "_matched_condition": "confirmed", "intent": "yes",
            "appointment": {"date": "2026-12-01"}, "reminders": [{"channel": "sms"}]})),
        delivery(DAY1, call("c2", structured_output={
            "_matched_condition": "not interested", "intent": "no", "reason": "price"},
            data_capture={"nps": 3})),
    ])
    run(kolkata, "2026-11-28")
    assert query(kolkata, "select call_log_id, matched_condition, field "
                          "from data_capture_fields") == [("c2", "not interested", "nps")]
    assert query(kolkata, "select call_log_id, matched_condition from calls order by 1") == [
        ("c1", "confirmed"), ("c2", "not interested")]
    assert query(kolkata, "select distinct matched_condition, path from structured_output_fields"
                          " order by 2, 1") == [
        ("confirmed", "appointment.date"), ("confirmed", "intent"), ("not interested", "intent"),
        ("not interested", "reason"), ("confirmed", "reminders[0].channel")]
    confirmed = query(kolkata, "select * from structured_output__confirmed")
    assert confirmed == [("c1", date(2026, 11, 28), "confirmed", date(2026, 12, 1), "yes",
                          '[{"channel":"sms"}]')]
    columns = [r[0] for r in query(
        kolkata, "select column_name from information_schema.columns where table_name = $v "
                 "order by ordinal_position", {"v": "structured_output__not interested"})]
    assert columns == ["call_log_id", "call_date", "matched_condition", "intent", "reason"]


def test_omitted_sections_and_rejections(kolkata: Settings) -> None:
    land(kolkata, [
        delivery(DAY1, call("bare")),
        delivery(DAY1, b"[1, 2]"),
        delivery(DAY1, {"no_id": True}),
        delivery(DAY1, None, method="GET", path="/leads/{{crm_id}}"),
    ])
    result = run(kolkata, "2026-11-28")
    assert query(kolkata, "select call_log_id, campaign from calls") == [("bare", "(none)")]
    for table in ("data_capture_fields", "structured_output_fields", "call_trigger_fields"):
        assert query(kolkata, f"select count(*) from {table}") == [(0,)]
    reasons = sorted(r[0] for r in query(kolkata, "select reason from rejected_deliveries"))
    assert reasons == ["GET delivery without a body, and no url_template field in its URL",
                       "body is not a JSON object: expected a JSON object, got a list",
                       "the body has no call_log_id"]
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["landing_rows_equal_deliveries"].passed
    assert checks["every_delivery_is_a_call_or_a_rejection"].passed
    assert checks["unique_call_log_id"].passed and checks["not_null_call_log_id"].passed
    assert not checks["no_rejected_deliveries"].passed  # a warning, not a failure


def test_sections_that_are_not_objects_count_as_omitted(kolkata: Settings) -> None:
    land(kolkata, [
        delivery(DAY1, call("odd", data_capture=[], structured_output="{not an object}",
                            call_trigger_data=None)),
        delivery(DAY1, call("scalar", data_capture=7, structured_output=True,
                            call_trigger_data="{}")),
        delivery(DAY1, call("objects", data_capture={}, structured_output={"intent": "buy"},
                            call_trigger_data={"campaign": "c1", "crm_id": "42"})),
    ])
    run(kolkata, "2026-11-28")
    assert query(kolkata, "select call_log_id, campaign, crm_id, intent, data_capture, "
                          "structured_output, call_trigger_data from calls order by 1") == [
        ("objects", "c1", "42", "buy", "{}", '{"intent":"buy"}', '{"campaign":"c1","crm_id":"42"}'),
        ("odd", "(none)", None, None, None, None, None),
        ("scalar", "(none)", None, None, None, None, None)]
    assert query(kolkata, "select call_log_id, path from structured_output_fields") == [
        ("objects", "intent")]
    assert query(kolkata, "select count(*) from data_capture_fields") == [(0,)]


def test_campaign_keys_follow_the_configured_order(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, campaign_keys="meta.campaign_id,campaign")
    land(settings, [
        delivery(DAY1, call("x", call_trigger_data={"campaign": "b",
                                                    "meta": {"campaign_id": "a"}})),
        delivery(DAY1, call("y", call_trigger_data={"campaign": "दिवाली ऑफ़र", "meta": {}})),
        delivery(DAY1, call("z", call_trigger_data={"campaign": ""})),
    ])
    run(settings, "2026-11-28")
    assert query(settings, "select call_log_id, campaign from calls order by 1") == [
        ("x", "a"), ("y", "दिवाली ऑफ़र"), ("z", "(none)")]


def test_osvi_materialize_command(tmp_path: Path) -> None:
    import os
    import subprocess

    from osvi_testkit.processes import OSVI

    settings = make_settings(tmp_path)
    env = {**os.environ, "OSVI_DATA_DIR": str(settings.data_dir), "OSVI_TIMEZONE": "UTC"}

    def osvi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(OSVI), "materialize", *args], env=env, capture_output=True,
                              text=True, timeout=300)

    assert "nothing has landed" in osvi().stdout
    land(settings, [delivery(DAY1, call("cli-1")), delivery(DAY2, call("cli-2"))])
    done = osvi()
    assert done.returncode == 0, done.stderr
    assert "materialized 2026-11-28..2026-11-29" in done.stdout
    assert query(settings, "select call_log_id from calls order by 1") == [("cli-1",), ("cli-2",)]
    assert (settings.data_dir / "dagster" / "dagster.yaml").exists()
    wrong = osvi("--start", "2026-11-29", "--end", "2026-11-28")
    assert wrong.returncode == 2 and "before --start" in wrong.stderr
    # Days outside the partitions: a clear error, not Dagster's stack trace (before the first
    # day) or a recorded materialization of a day that has not begun.
    too_early = osvi("--date", "2026-11-27")  # DAY1 is the earliest landed day
    assert too_early.returncode == 2, too_early.stderr
    assert "2026-11-27 is before 2026-11-28 (the earliest landed day)" in too_early.stderr
    assert "Traceback" not in too_early.stderr + too_early.stdout
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    future = osvi("--start", "2026-11-28", "--end", tomorrow.isoformat())
    assert future.returncode == 2 and f"{tomorrow} has not begun" in future.stderr
