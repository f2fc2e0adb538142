"""The export (issue 29) to real destinations: PostgreSQL (the tests' own cluster) and the
filesystem destination writing Iceberg tables to a moto S3 server. After each change in the
warehouse (first run, re-deliveries, a new field, a day re-materialized, a day whose calls are
gone) every exported table at the destination equals the published warehouse, values included;
a destination that is down holds nothing up and catches up once back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import psycopg2
import pytest
from pyiceberg.table import StaticTable

from osvi_core.settings import Settings
from osvi_pipeline.definitions import build_definitions
from osvi_pipeline.defs.checks.export import lag_check_name
from osvi_pipeline.runtime.materialize import export_now, materialize_days
from osvi_pipeline.warehouse.export import DELETED, EXPORTED_TABLES
from osvi_testkit.postgres import create_database, postgres_server
from osvi_testkit.processes import OSVI, free_port
from osvi_testkit.s3 import CREDENTIALS, S3Endpoint, moto_s3
from tests.support.config import CHECKOUT, make_settings
from tests.support.histories import DAY, DAY1, seed_call, simulated
from tests.support.pipeline import delivery, land

pytestmark = pytest.mark.slow
OLDER_DUCKDB = CHECKOUT / ".venv" / "duckdb-1.4"  # an analyst's DuckDB (Makefile)
EXTENSIONS = OLDER_DUCKDB / "duckdb_ext" / "extensions" / "v1.4.4" / "linux_amd64"
HTTPFS, ICEBERG = EXTENSIONS / "httpfs.duckdb_extension", EXTENSIONS / "iceberg.duckdb_extension"
AVRO = EXTENSIONS / "avro.duckdb_extension"  # the iceberg extension reads manifests with it


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

    # A field whose values stop being numbers: its column widens to VARCHAR in the warehouse,
    # and the destination's table is created again with the column as text.
    for index, score in enumerate((7, "seven")):
        land(settings, [delivery(later + timedelta(minutes=index + 1), seed_call(
            call_log_id=f"score-{index}", data_capture={"score": score}))])
        assert run_and_export(settings, second, second, only_new_files=True).success
    assert_equal_everywhere(settings, url)
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        cursor.execute("select data_type from information_schema.columns where table_schema "
                       "= 'osvi' and table_name = 'data_capture' and column_name like 'score%'")
        assert cursor.fetchall() == [("character varying",)]

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


def test_iceberg_tables_on_s3_equal_the_warehouse(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The filesystem destination writing Iceberg tables to a moto S3 server, read back with
    pyiceberg, and by an analyst's DuckDB 1.4.4 with its iceberg extension."""
    with moto_s3() as s3:
        s3.create_bucket("lake")
        keys = {"AWS_ACCESS_KEY_ID": CREDENTIALS["AWS_ACCESS_KEY_ID"],
                "AWS_SECRET_ACCESS_KEY": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                "ENDPOINT_URL": s3.url, "REGION_NAME": CREDENTIALS["AWS_REGION"]}
        monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", "s3://lake/warehouse")
        for name, value in keys.items():
            monkeypatch.setenv(f"DESTINATION__FILESYSTEM__CREDENTIALS__{name}", value)
        settings = make_settings(tmp_path, export_destinations="filesystem", timezone="UTC")
        day = DAY1.date()
        land(settings, simulated(DAY1, 60, seed=5))
        assert run_and_export(settings, day, day).success
        land(settings, simulated(DAY1 + timedelta(hours=3), 20, seed=6))  # a second export
        assert run_and_export(settings, day, day, only_new_files=True).success

        properties = {"s3.endpoint": s3.url, "s3.region": CREDENTIALS["AWS_REGION"],
                      "s3.access-key-id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
                      "s3.secret-access-key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}
        for table in EXPORTED_TABLES:
            metadata = metadata_of(s3, table)
            iceberg = StaticTable.from_metadata(f"s3://lake/{metadata}", properties=properties)
            columns, rows = warehouse_rows(settings, table)
            found = iceberg.scan(selected_fields=tuple(columns)).to_arrow()
            read_back = sorted((tuple(normal(row[name]) for name in columns)
                                for row in found.to_pylist()), key=repr)
            assert read_back == rows, table

        calls = metadata_of(s3, "calls")
        script = f"""
import duckdb, json
con = duckdb.connect()
con.execute("load '{HTTPFS}'")
con.execute("load '{AVRO}'")
con.execute("load '{ICEBERG}'")
con.execute('''create secret (type s3, key_id '{CREDENTIALS["AWS_ACCESS_KEY_ID"]}',
               secret '{CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}', region 'us-east-1',
               endpoint '{s3.url.removeprefix("http://")}', url_style 'path', use_ssl false)''')
print(json.dumps(con.execute("select count(*) from iceberg_scan('s3://lake/{calls}')")
                 .fetchall()))
"""
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "PYTHONPATH": str(OLDER_DUCKDB)})
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == [[len(warehouse_rows(settings, "calls")[1])]]


def metadata_of(s3: S3Endpoint, table: str) -> str:
    return sorted(key for key in s3.keys("lake", f"warehouse/osvi/{table}/metadata/")
                  if key.endswith(".metadata.json"))[-1]


def test_the_sensor_exports_each_publication_once_in_its_own_job(
        tmp_path: Path, server: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """export_sensor as the daemon evaluates it: a publication -> one export_job run (the
    warehouse's jobs never include the export); nothing new -> nothing; after a failed export,
    a backoff."""
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS",
                       create_database(*server, "export_sensor"))
    settings = make_settings(tmp_path, export_destinations="postgres", timezone="UTC",
                             pii="mask")
    defs = build_definitions(settings)
    for job in ("warehouse_job", "landing_job"):
        assert not any(key.path[0] == "export" for key in
                       defs.resolve_job_def(job).asset_layer.executable_asset_keys), job
    instance = dg.DagsterInstance.ephemeral()
    sensor = defs.resolve_sensor_def("export_sensor")

    def evaluate(cursor: str | None) -> dg.SensorResult:
        result = sensor(dg.build_sensor_context(cursor=cursor, instance=instance,
                                                definitions=defs))
        assert isinstance(result, dg.SensorResult)
        return result

    assert not evaluate(None).run_requests, "nothing published yet"
    land(settings, simulated(DAY1, 30, seed=7))
    assert materialize_days(settings, DAY1.date(), DAY1.date(), instance=instance).success
    requested = evaluate(None)
    assert len(requested.run_requests or []) == 1 and requested.cursor
    assert not evaluate(requested.cursor).run_requests, "a publication is exported once"

    exported = defs.resolve_job_def("export_job").execute_in_process(instance=instance)
    assert exported.success
    assert {tuple(event.asset_key.path) for event in
            exported.get_asset_materialization_events()} == {
        ("export", "postgres", table) for table in EXPORTED_TABLES}

    # What is exported is what OSVI_WAREHOUSE holds: masked with OSVI_PII=mask.
    url = os.environ["DESTINATION__POSTGRES__CREDENTIALS"]
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        cursor.execute("select phone_number from osvi.calls where phone_number is not null")
        phones = [phone for (phone,) in cursor.fetchall()]
    assert phones and all("*" in phone for phone in phones), phones[:3]
    assert_equal_everywhere(settings, url)
    # `osvi export --full`: every table sent whole again, the same rows.
    full = export_now(settings, full=True, instance=instance)
    assert full is not None and full.success
    assert loaded(full)["calls"] == len(warehouse_rows(settings, "calls")[1])
    assert_equal_everywhere(settings, url)

    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://u:p@127.0.0.1:"
                       f"{free_port()}/none")  # down
    failed = defs.resolve_job_def("export_job").execute_in_process(instance=instance,
                                                                   raise_on_error=False)
    assert not failed.success
    assert materialize_days(settings, DAY1.date(), DAY1.date(), instance=instance).success
    waiting = evaluate(requested.cursor)
    assert not waiting.run_requests and "next try in" in str(waiting.skip_reason)


def test_the_commands_say_what_failed_and_name_keys_not_values(tmp_path: Path) -> None:
    """`osvi materialize` publishes, then exits 3 when only the export failed; `osvi export`
    names a destination's missing keys at start, never a value."""
    settings = make_settings(tmp_path, timezone="UTC")
    land(settings, simulated(DAY1, 10, seed=8))
    env = {key: value for key, value in os.environ.items()  # (DLT_PROJECT_DIR: the user's)
           if not key.startswith(("OSVI_", "DESTINATION__", "DLT_"))}
    env.update({"OSVI_DATA_DIR": str(settings.data_dir), "OSVI_TIMEZONE": "UTC",
                "OSVI_EXPORT_DESTINATIONS": "postgres",
                "DESTINATION__POSTGRES__CREDENTIALS":
                    f"postgresql://u:hunter2-secret@127.0.0.1:{free_port()}/none"})
    done = subprocess.run([str(OSVI), "materialize", "--date", DAY1.date().isoformat()],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "the export to postgres failed" in done.stdout and "is published" in done.stdout
    assert settings.layout.warehouse_path.exists()
    assert "hunter2-secret" not in done.stdout + done.stderr

    del env["DESTINATION__POSTGRES__CREDENTIALS"]
    env["OSVI_EXPORT_DESTINATIONS"] = "postgres,filesystem"
    refused = subprocess.run([str(OSVI), "export"], env=env, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 2
    assert "postgres: missing credentials.database" in refused.stderr
    assert "filesystem: missing bucket_url" in refused.stderr

    # dlt's own files under the data dir count, whatever the working directory.
    secrets = settings.data_dir / ".dlt" / "secrets.toml"
    secrets.parent.mkdir()
    secrets.write_text(f'[destination.filesystem]\nbucket_url = "file://{tmp_path}/lake"\n')
    shown = subprocess.run([str(OSVI), "config"], env=env, capture_output=True, text=True,
                           timeout=120, cwd=tmp_path)
    assert "export destination filesystem: configured" in shown.stdout, [
        line for line in shown.stdout.splitlines() if "export destination" in line]
    assert "export destination postgres: OSVI_EXPORT_DESTINATIONS: postgres: missing" in (
        shown.stdout)


def test_without_destinations_no_run_imports_dlt(tmp_path: Path) -> None:
    """dlt and dagster-dlt cost every process that loads the code location ~0.35 s (each
    micro-batch's run worker): they are imported only when destinations are set."""
    code = ("import sys; from pathlib import Path; from osvi_core.settings import Settings; "
            "from osvi_pipeline.definitions import build_definitions; "
            f"build_definitions(Settings(data_dir=Path({str(tmp_path)!r}))); "
            "print(sorted(name for name in ('dlt', 'dagster_dlt') if name in sys.modules))")
    env = {key: value for key, value in os.environ.items() if not key.startswith("OSVI_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
