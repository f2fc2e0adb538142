"""OSVI_PII=mask through the real asset graph: every analyst table and view is masked, the marts
are still computed from the raw values, and landing and the working file keep the raw data."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from osvi_core.settings import Settings
from osvi_pipeline.lib.sql_names import quote_identifier
from tests.support.config import make_settings, sample_payload_bytes
from tests.support.histories import differences, integrations_file, landings
from tests.support.landing import read_landing
from tests.support.pipeline import delivery, land, query, run

MORNING = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
# Raw personal data that must not appear anywhere an analyst looks.
RAW = ["9876543210", "98123456", "John", "Doe", "Ananya", "Iyer"]


def second_call() -> dict[str, object]:
    """Same campaign, another number ending in the same two digits as the seed sample's."""
    body = json.loads(sample_payload_bytes())
    body.update(call_log_id="second", phone_number="+919812345610",
                call_summary="Ananya Iyer asked for a call back on +919812345610 tomorrow.")
    body["call_trigger_data"].update(phone_number="+919812345610", person_name="Ananya Iyer")
    body["data_capture"]["customer_name"] = "Ananya Iyer"
    # free text in an extracted field: its number must go from the wide and the long tables
    body["data_capture"]["notes"] = "call back on +919812345610 after 5"
    return body


@pytest.fixture
def masked(tmp_path: Path) -> tuple[Settings, dg.ExecuteInProcessResult]:
    settings = make_settings(tmp_path, pii="mask")
    land(settings, [
        delivery(MORNING, json.loads(sample_payload_bytes())),
        delivery(MORNING + timedelta(minutes=1), second_call()),
        # Not JSON: rejected, yet its text is an analyst-visible column of `deliveries`.
        delivery(MORNING + timedelta(minutes=2), b'{"phone_number": "+919876543210", "na'),
        delivery(MORNING + timedelta(minutes=3), None, method="GET",
                 path="/leads/919876543210/calls"),
    ])
    return settings, run(settings, "2026-11-28")


def every_text_value(database: Path) -> list[tuple[str, str, str]]:
    """(table or view, column, value) for every non-null value, cast to text."""
    found = []
    with duckdb.connect(str(database), read_only=True) as con:
        relations = con.execute("select table_schema, table_name "
                                "from information_schema.tables").fetchall()
        for schema, relation in relations:
            cursor = con.execute(f"select * from {quote_identifier(schema)}."
                                 f"{quote_identifier(relation)}")
            names = [description[0] for description in cursor.description or []]
            for row in cursor.fetchall():
                found += [(relation, name, str(value)) for name, value in zip(names, row,
                                                                               strict=True)
                          if value is not None]
    return found


def test_no_raw_phone_or_name_in_any_published_table_or_view(
        masked: tuple[Settings, dg.ExecuteInProcessResult]) -> None:
    settings, _ = masked
    values = every_text_value(settings.layout.warehouse_path)
    relations = {relation for relation, _, _ in values}
    assert {"calls", "deliveries", "data_capture_fields", "data_capture",
            "structured_output", "call_trigger_fields", "rejected_deliveries"} <= relations
    leaks = [(relation, column, value) for relation, column, value in values
             if any(raw in value for raw in RAW)]
    assert leaks == []


def test_masked_values_keep_country_code_last_digits_and_initial(
        masked: tuple[Settings, dg.ExecuteInProcessResult]) -> None:
    settings, _ = masked
    assert query(settings, "select call_log_id, phone_number, person_name, call_summary "
                           "from calls order by call_log_id") == [
        ("8de63236-e013-42dd-9d99-1be5521701d4", "+91********10", "J***",
         json.loads(sample_payload_bytes())["call_summary"]),
        ("second", "+91********10", "A***",
         "A*** I*** asked for a call back on +91********10 tomorrow.")]
    assert query(settings, "select customer_name from data_capture order by call_log_id") == [
        ("J***",), ("A***",)]
    assert query(settings, "select value, value_text from call_trigger_fields "
                           "where path = 'person_name' order by call_log_id") == [
        ('"J***"', "J***"), ('"A***"', "A***")]
    assert query(settings, "select path from rejected_deliveries where method = 'GET'") == [
        ("/webhooks/crm/leads/********10/calls",)]


def test_marts_count_the_raw_numbers_though_their_masks_look_alike(
        masked: tuple[Settings, dg.ExecuteInProcessResult]) -> None:
    settings, _ = masked
    assert query(settings, "select campaign, calls, unique_phones from campaign_daily") == [
        ("june-renewals", 2, 2)]


def test_landing_and_the_working_file_keep_the_raw_data(
        masked: tuple[Settings, dg.ExecuteInProcessResult]) -> None:
    settings, _ = masked
    bodies = read_landing(settings.layout.landing_dir).column("body").to_pylist()
    assert any(body and "+919876543210" in body for body in bodies)
    with duckdb.connect(str(settings.layout.pipeline_warehouse_path), read_only=True) as con:
        assert con.execute("select phone_number, person_name from calls "
                           "where call_log_id = 'second'").fetchall() == [
            ("+919812345610", "Ananya Iyer")]


def test_masked_copies_keep_the_working_tables_column_definitions(
        masked: tuple[Settings, dg.ExecuteInProcessResult]) -> None:
    settings, _ = masked

    def columns(database: Path, table: str) -> list[tuple[str, str, bool]]:
        with duckdb.connect(str(database), read_only=True) as con:
            return con.execute("select column_name, data_type, is_nullable from "
                               "duckdb_columns() where table_name = $t order by column_index",
                               {"t": table}).fetchall()

    for table in ("deliveries", "calls", "structured_output_fields"):
        assert columns(settings.layout.warehouse_path, table) == columns(
            settings.layout.pipeline_warehouse_path, table)
    assert query(settings, "select list(distinct compression) from pragma_storage_info("
                           "'deliveries') where column_name = 'body' "
                           "and segment_type = 'VARCHAR'") == [(["ZSTD"],)]


def test_previews_in_the_dagster_ui_are_masked_too(
        masked: tuple[Settings, dg.ExecuteInProcessResult]) -> None:
    _, result = masked
    previews = [str(event.materialization.metadata["preview"].value)
                for event in result.get_asset_materialization_events()
                if "preview" in event.materialization.metadata]
    assert any("+91********10" in text for text in previews)
    assert not [text for text in previews if any(raw in text for raw in RAW)]


def test_by_default_the_warehouse_keeps_what_osvi_sent(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    land(settings, [delivery(MORNING, json.loads(sample_payload_bytes()))])
    run(settings, "2026-11-28")
    assert query(settings, "select phone_number, person_name from calls") == [
        ("+919876543210", "John Doe")]


def test_masked_copies_refreshed_day_by_day_equal_a_masked_full_build(tmp_path: Path) -> None:
    integrations = integrations_file(tmp_path / "integrations.yaml")
    daily = make_settings(tmp_path / "daily", integrations=integrations, pii="mask")
    scratch = make_settings(tmp_path / "scratch", integrations=integrations, pii="mask")
    copies = []
    for rows, day in zip(landings(), ["2026-11-26", "2026-11-27", "2026-11-28", "2026-11-27"],
                         strict=True):
        land(daily, rows)
        land(scratch, rows)
        copies.append(masked_copies(run(daily, day)))
    run(scratch, "2026-11-26", "2026-11-28")
    assert differences(daily.layout.warehouse_path, scratch.layout.warehouse_path) == {}
    for later in copies[1:]:  # the Python masking ran on the changed rows only
        assert {later[table] for table in ("deliveries", "calls", "data_capture_fields")} == {
            "incremental"}
    values = every_text_value(daily.layout.warehouse_path)
    assert not [value for _, _, value in values if "+919876543210" in value or "John" in value]


def masked_copies(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    [event] = [event for event in result.get_asset_materialization_events()
               if event.asset_key.path[-1] == "warehouse_snapshot"]
    copies = event.materialization.metadata["tables"].value
    assert isinstance(copies, dict)
    return copies


def test_a_replaced_working_file_rebuilds_the_masked_copies_in_full(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, pii="mask")
    land(settings, [delivery(MORNING, json.loads(sample_payload_bytes()))])
    run(settings, "2026-11-28")
    land(settings, [delivery(MORNING + timedelta(days=1), second_call())])
    run(settings, "2026-11-29")
    settings.layout.pipeline_warehouse_path.unlink()  # the masked file keeps its watermarks
    copies = masked_copies(run(settings, "2026-11-28", "2026-11-29"))
    assert set(copies.values()) == {"full"}
    assert query(settings, "select count(*) from calls") == [(2,)]
