"""The export (issue 29) to real destinations: PostgreSQL (the tests' own cluster) and the
filesystem destination writing Iceberg tables to a moto S3 server. After each change in the
warehouse (first run, re-deliveries, a new field, a day re-materialized, a day whose calls are
gone) every exported table at the destination equals the published warehouse, values included;
a destination that is down holds nothing up and catches up once back."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import psycopg2
import pytest

from osvi_core.settings import Settings
from osvi_pipeline.defs.checks.export import lag_check_name
from osvi_pipeline.runtime.materialize import export_now, materialize_days
from osvi_pipeline.warehouse.export import DELETED, EXPORTED_TABLES
from osvi_testkit.postgres import create_database, postgres_server
from osvi_testkit.processes import free_port
from tests.support.config import make_settings
from tests.support.histories import DAY, DAY1, seed_call, simulated
from tests.support.pipeline import delivery, land

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    with postgres_server() as running:
        yield running


def normal(value: Any) -> Any:
    """One form for a value read from DuckDB or from PostgreSQL."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | float):
        return round(float(value), 9)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    return value


def warehouse_rows(settings: Settings, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        found = con.execute(f'select * from "{table}"')
        columns = [column[0] for column in found.description]
        return columns, sorted((tuple(normal(v) for v in row) for row in found.fetchall()),
                               key=repr)


def destination_rows(url: str, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        cursor.execute("select " + ", ".join(f'"{name}"' for name in columns)
                       + f' from osvi."{table}"')
        return sorted((tuple(normal(v) for v in row) for row in cursor.fetchall()), key=repr)


def assert_equal_everywhere(settings: Settings, url: str) -> None:
    for table in EXPORTED_TABLES:
        columns, rows = warehouse_rows(settings, table)
        assert destination_rows(url, table, columns) == rows, table


def loaded(result: dg.ExecuteInProcessResult) -> dict[str, int]:
    """Rows each table's export sent (dagster-dlt's metadata)."""
    return {event.asset_key.path[-1]: int(str(event.materialization.metadata["rows_loaded"]
                                              .value))
            for event in result.get_asset_materialization_events()
            if "rows_loaded" in event.materialization.metadata}


def run_and_export(settings: Settings, start: date, end: date,
                   only_new_files: bool = False) -> dg.ExecuteInProcessResult:
    assert materialize_days(settings, start, end, only_new_files=only_new_files).success
    exported = export_now(settings)
    assert exported is not None
    return exported


def test_postgres_equals_the_warehouse_through_every_kind_of_change(
        tmp_path: Path, server: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    url = create_database(*server, "export_changes")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", url)
    first, second = DAY1.date(), (DAY1 + DAY).date()
    settings = make_settings(tmp_path, export_destinations="postgres", timezone="UTC",
                             first_day=first)
    land(settings, simulated(DAY1, 80, seed=1))
    land(settings, simulated(DAY1 + DAY, 80, seed=2))
    assert materialize_days(settings, first, first).success  # day by day, as the schedule
    assert run_and_export(settings, second, second).success
    assert_equal_everywhere(settings, url)

    # Re-deliveries: the calls are updated, not duplicated.
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        [(call_id,)] = con.execute("select call_log_id from calls order by 1 limit 1").fetchall()
    later = DAY1 + DAY + timedelta(hours=12)  # after every delivery landed so far
    land(settings, [delivery(later, seed_call(call_log_id=call_id,
                                                   call_summary="Called back: all settled",
                                                   data_capture={"loyalty tier": "gold"}))])
    exported = run_and_export(settings, second, second, only_new_files=True)  # a micro-batch
    assert exported.success
    assert loaded(exported)["calls"] == 1, "only the changed call is sent, merged"
    assert_equal_everywhere(settings, url)
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        cursor.execute("select count(*), count(distinct call_log_id) from osvi.calls")
        total, distinct = cursor.fetchone()
        assert total == distinct
        # A new field is a new column, filled (names as the warehouse's own).
        cursor.execute('select "loyalty tier" from osvi.data_capture where call_log_id = %s',
                       (call_id,))
        assert cursor.fetchall() == [("gold",)]

    # The first day materialized again: nothing doubled.
    assert run_and_export(settings, first, first).success
    assert_equal_everywhere(settings, url)

    # A day whose landing is gone: its calls leave the warehouse, and the destination.
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        [(day_one,)] = con.execute("select count(*) from calls where call_date = $d",
                                   {"d": first}).fetchall()
    for folder in settings.layout.landing_dir.glob(f"*{first.isoformat()}*"):
        shutil.rmtree(folder) if folder.is_dir() else folder.unlink()
    exported = run_and_export(settings, first, first)
    assert exported.success
    assert_equal_everywhere(settings, url)
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from calls where call_date = $d",
                           {"d": first}).fetchall() == [(0,)]
    assert loaded(exported)["calls"] == day_one, "a deletion per call gone"
    with psycopg2.connect(url) as con, con.cursor() as cursor:  # dlt's hard-delete marker
        cursor.execute(f'select count(*) from osvi.calls where "{DELETED}"')
        assert cursor.fetchall() == [(0,)]


def test_a_destination_down_holds_nothing_up_and_catches_up(
        tmp_path: Path, server: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    url = create_database(*server, "export_down")
    down = url.replace(f":{server[1]}/", f":{free_port()}/")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", down)
    settings = make_settings(tmp_path, export_destinations="postgres", timezone="UTC",
                             export_max_lag_minutes=0.001)
    day = DAY1.date()
    land(settings, simulated(DAY1, 40, seed=3))
    assert materialize_days(settings, day, day).success  # the warehouse is published...
    failed = export_now(settings)
    assert failed is not None and not failed.success  # ...and the export fails alone
    again = materialize_days(settings, day, day)
    assert again.success
    [lag] = [check for check in again.get_asset_check_evaluations()
             if check.check_name == lag_check_name("postgres")]
    assert not lag.passed and lag.severity == dg.AssetCheckSeverity.WARN
    assert "OperationalError" in str(lag.metadata["last_error"].value)

    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", url)  # back
    exported = export_now(settings)
    assert exported is not None and exported.success
    assert_equal_everywhere(settings, url)
