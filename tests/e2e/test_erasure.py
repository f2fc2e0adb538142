"""`osvi forget` (issue 30) on real stores: landing on a moto S3 bucket and in a local folder, an
unpublished journal segment, the working file, both published copies, OSVI_PUBLISH_URL, the
daily reports, a PostgreSQL export and Dagster's storage. After erasing one number among 300
simulated calls, no store holds it in any form, decoded or as raw bytes, and every other call is
exactly as it was."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pyiceberg.table import StaticTable

from ingest_api.journal import DurableLanding, encode_records
from osvi_core.erasure import ErasureLedger, normalize_phone
from osvi_core.landing import LandingRow, encode_table, write_landing_bytes
from osvi_core.landing_store import S3LandingStore, landing_store_for
from osvi_core.settings import Settings
from osvi_pipeline.runtime.materialize import export_now, materialize_days
from osvi_pipeline.warehouse.erasure import find_in_landing, rewritten_name
from osvi_testkit.postgres import create_database, postgres_server
from osvi_testkit.processes import OSVI, served
from osvi_testkit.s3 import S3Endpoint, moto_s3
from tests.support.config import TOKEN, make_settings
from tests.support.erasure import (
    duckdb_hits,
    number_forms,
    parquet_hits,
    postgres_hits,
    raw_hits,
)
from tests.support.histories import DAY, DAY1, simulated
from tests.support.load import LoadGenerator
from tests.support.pipeline import delivery, land

pytestmark = pytest.mark.slow
BUCKET = "erasure"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    with postgres_server() as running:
        yield running


def history(days: int = 3, per_day: int = 100) -> list[list[LandingRow]]:
    return [simulated(DAY1 + index * DAY, per_day, seed=10 + index) for index in range(days)]


def target_of(rows: list[LandingRow]) -> tuple[str, str]:
    """(phone number, call id) of a simulated call that has a number."""
    for row in rows:
        body = orjson.loads(row.body or "{}")
        if body.get("phone_number"):
            return str(body["phone_number"]), str(body["call_log_id"])
    raise AssertionError("no call with a number")


def one_day_materialized(tmp_path: Path, calls: int) -> tuple[Settings, list[LandingRow], str]:
    """A day of simulated calls landed locally and materialized; with a number to forget."""
    settings = make_settings(tmp_path, timezone="UTC")
    [rows] = history(days=1, per_day=calls)
    number, _ = target_of(rows)
    land(settings, rows)
    assert materialize_days(settings, DAY1.date(), DAY1.date()).success
    return settings, rows, number


def extra_deliveries(number: str, call_id: str, at: datetime) -> list[LandingRow]:
    """The number where a real history has it besides the call's own fields: a later status
    update of the call without the number, another call with it written the way people do,
    and a body that is not even JSON."""
    national = number[3:]
    grouped = f"+91 {national[:5]} {national[5:]}"
    return [
        delivery(at, {"call_log_id": call_id, "call_status": "completed"}),
        delivery(at + timedelta(seconds=1), {
            "call_log_id": "callback-1", "agent_name": "Retention", "call_status": "picked",
            "call_trigger_data": {"phone_number": grouped, "person_name": "Asha Rao"}}),
        delivery(at + timedelta(seconds=2), f"call me back on 0{national}, {{broken".encode()),
    ]


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OSVI_")}
    env.update({"OSVI_DATA_DIR": str(settings.data_dir), "OSVI_INGEST_TOKEN": TOKEN,
                "OSVI_TIMEZONE": settings.timezone}, **extra)
    return env


def forget_cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OSVI, "forget", *args], env=cli_env(settings, **env),
                          capture_output=True, text=True, timeout=300)


def others_checksum(settings: Settings, erased_calls: set[str]) -> tuple[int, str]:
    """Every call but the erased ones, every column: count and digest."""
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        rows = con.execute("select * from calls where call_log_id not in "
                           "(select unnest($ids::varchar[])) order by call_log_id",
                           {"ids": sorted(erased_calls)}).fetchall()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


def con_rows(settings: Settings, sql: str, **params: object) -> list[tuple[object, ...]]:
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def s3_objects(s3: S3Endpoint) -> dict[str, bytes]:
    return {key: s3.get(BUCKET, key) for key in s3.keys(BUCKET)}


def every_hit(settings: Settings, s3: S3Endpoint, pg_url: str, number: str) -> list[str]:
    """Every place a form of the number is, decoded or raw."""
    found = raw_hits(settings.data_dir, number)
    for key, data in s3_objects(s3).items():
        found += [f"s3 {key}: {form}" for form in number_forms(number) if form.encode() in data]
        if key.endswith(".parquet"):
            found += parquet_hits(key, data, number)
        if key.endswith(".duckdb"):
            copy = settings.data_dir.parent / "published-object.duckdb"
            copy.write_bytes(data)
            found += [f"s3 {hit}" for hit in duckdb_hits(copy, number)]
            copy.unlink()
    for path in settings.data_dir.rglob("*.duckdb"):
        found += duckdb_hits(path, number)
    for path in settings.data_dir.rglob("*.parquet"):  # compressed: decoded
        found += parquet_hits(str(path), path.read_bytes(), number)
    for path in settings.data_dir.rglob("*.gz"):
        found += [f"{path}: {form}" for form in number_forms(number)
                  if form.encode() in gzip.decompress(path.read_bytes())]
    found += [f"postgres {hit}" for hit in postgres_hits(pg_url, number)]
    return found


def test_forgetting_one_number_leaves_no_form_of_it_anywhere(
        tmp_path: Path, server: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    pg_url = create_database(*server, "erasure")
    with moto_s3() as s3:
        s3.create_bucket(BUCKET)
        env = {**s3.env, "DESTINATION__POSTGRES__CREDENTIALS": pg_url}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        landing_url = f"s3://{BUCKET}/landing"
        publish_url = f"s3://{BUCKET}/published/warehouse.duckdb"
        settings = make_settings(tmp_path, landing_url=landing_url, publish_url=publish_url,
                                 export_destinations="postgres", timezone="UTC")
        days = history()
        number, call_id = target_of(days[1])
        days[1] += extra_deliveries(number, call_id, DAY1 + DAY + timedelta(hours=5))
        journal = DurableLanding(settings.layout.journal_dir, S3LandingStore(landing_url))
        for rows in days:
            journal.append(rows)
            journal.drain()
        for index in range(3):  # day by day, as the schedule runs: a report per day
            day = (DAY1 + index * DAY).date()
            assert materialize_days(settings, day, day).success
        exported = export_now(settings)
        assert exported is not None and exported.success
        # An unpublished segment of an ingest that died: the number, and a stranger's call.
        stranger = delivery(DAY1 + 2 * DAY, {"call_log_id": "stranger", "phone_number":
                                             "+14155550123", "call_status": "picked"})
        mine = delivery(DAY1 + 2 * DAY, {"call_log_id": "late-1", "phone_number": number})
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout.strip()
        settings.layout.journal_dir.mkdir(parents=True, exist_ok=True)
        (settings.layout.journal_dir / f"{dead}-feed-1.journal").write_bytes(
            encode_records([stranger, mine]))

        before = every_hit(settings, s3, pg_url, number)
        for store in ("landing/", "pipeline/warehouse.duckdb", "warehouse.duckdb:",
                      "postgres", "journal/"):
            assert any(store in hit for hit in before), f"the test must see it in {store}"
        with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
            erased_calls = {call for (call,) in con.execute(
                "select call_log_id from calls where regexp_matches(phone_number, $p)",
                {"p": number[3:8]}).fetchall()}
        assert erased_calls == {call_id, "callback-1"}
        [(delivered,)] = con_rows(settings, "select count(*) from deliveries where call_log_id "
                                  "in (select unnest($ids::varchar[]))", ids=sorted(erased_calls))
        untouched = others_checksum(settings, erased_calls)

        grouped = f"+91 {number[3:8]} {number[8:]}"
        done = forget_cli(settings, "--phone", grouped, "--reason", "ticket 42",
                          OSVI_LANDING_URL=landing_url, OSVI_PUBLISH_URL=publish_url,
                          OSVI_EXPORT_DESTINATIONS="postgres", **env)
        assert done.returncode == 0, done.stdout + done.stderr
        output = done.stdout + done.stderr
        assert not [form for form in number_forms(number) if form in output], output
        # Its calls, the one in the journal, and the body that was not JSON.
        assert f"3 calls, {delivered + 2} deliveries" in output
        assert "landing" in output and "postgres took the deletions" in output

        assert every_hit(settings, s3, pg_url, number) == []
        assert others_checksum(settings, erased_calls) == untouched
        with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
            assert con.execute("select calls, deliveries, reason from erasures").fetchall() \
                == [(3, delivered + 2, "ticket 42")]
            [(subject_hash,)] = con.execute("select subject_hash from erasures").fetchall()
            assert number.lstrip("+") not in subject_hash
            assert con.execute("select count(*) from calls where call_log_id = 'stranger'"
                               ).fetchall() == [(0,)], "not loaded yet: the journal kept it"
        segment = next(settings.layout.journal_dir.glob("*.journal"))
        assert b"stranger" in segment.read_bytes(), "the stranger's delivery was kept"

        again = forget_cli(settings, "--phone", number, OSVI_LANDING_URL=landing_url,
                           OSVI_PUBLISH_URL=publish_url, OSVI_EXPORT_DESTINATIONS="postgres",
                           **env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "nothing found" in again.stdout


def test_an_invalid_number_is_exit_2_and_a_dry_run_changes_nothing(tmp_path: Path) -> None:
    settings, _, number = one_day_materialized(tmp_path, 30)
    refused = forget_cli(settings, "--phone", "call-me-maybe")
    assert refused.returncode == 2 and "not a phone number" not in refused.stdout
    assert "--phone" in refused.stderr
    assert forget_cli(settings, "--phone", "+1 23").returncode == 2
    landing_before = sorted(p.name for p in settings.layout.landing_dir.rglob("*.parquet"))
    dry = forget_cli(settings, "--phone", number, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would remove" in dry.stdout and number not in dry.stdout
    assert "1 calls" in dry.stdout
    assert sorted(p.name for p in settings.layout.landing_dir.rglob("*.parquet")) == \
        landing_before
    assert ErasureLedger(settings.layout.erasure_dir).tombstones() == []
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from calls where phone_number = $n",
                           {"n": number}).fetchall() == [(1,)]


def test_nothing_brings_an_erased_call_back_and_a_killed_erasure_is_finished_by_a_rerun(
        tmp_path: Path) -> None:
    settings = make_settings(tmp_path, timezone="UTC")
    days = history(days=2, per_day=60)
    number, call_id = target_of(days[0])
    for rows in days:
        land(settings, rows)
    first, last = DAY1.date(), (DAY1 + DAY).date()
    assert materialize_days(settings, first, last).success

    # Killed with -9 as soon as its tombstone is written; the rerun finishes the job.
    ledger = settings.layout.erasure_dir / "ledger.jsonl"
    process = subprocess.Popen([OSVI, "forget", "--phone", number], env=cli_env(settings),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (ledger.exists() and b"begin" in ledger.read_bytes()):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    tombstones = ErasureLedger(settings.layout.erasure_dir).tombstones()
    assert [t.done for t in tombstones] == [False]
    rerun = forget_cli(settings, "--phone", number)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "finished 1 erasure" in rerun.stdout
    [finished] = ErasureLedger(settings.layout.erasure_dir).tombstones()
    assert finished.done and finished.erased_at == tombstones[0].erased_at
    assert raw_hits(settings.data_dir, number) == []
    landed = [parquet_hits(str(path), path.read_bytes(), number)
              for path in settings.layout.landing_dir.rglob("*.parquet")]
    assert not any(landed)

    # A rebuild from landing, a re-import of the old deliveries and a dead replica's journal
    # published late: none brings the call back. A call after the erasure is new data.
    old = next(row for row in days[0] if row.call_log_id == call_id)
    history_file = tmp_path / "old.jsonl"
    history_file.write_bytes((old.body or "").encode() + b"\n")
    os.utime(history_file, (DAY1.timestamp(), DAY1.timestamp()))  # received back then
    imported = subprocess.run([OSVI, "import", "--integration", "crm", str(history_file)],
                              env=cli_env(settings), capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "1 of erased people left out" in imported.stdout
    assert raw_hits(settings.data_dir, number) == []
    late = DurableLanding.for_folder(settings.layout.landing_dir)
    late.append([delivery(DAY1 + DAY, orjson.loads(old.body or "{}"))])
    late.drain()
    after = datetime.now(UTC)
    land(settings, [delivery(after, {"call_log_id": "new-call", "phone_number": number})])
    shutil.rmtree(settings.layout.pipeline_warehouse_path.parent)
    assert materialize_days(settings, first, after.date()).success
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        assert con.execute("select call_log_id from calls where phone_number = $n",
                           {"n": number}).fetchall() == [("new-call",)]
        assert con.execute("select count(*) from erasures").fetchall() == [(1,)]
    # The late journal's delivery was swept from landing by the load that left it out; the
    # call after the erasure is the only one of that number there.
    late_hits = [hit for path in settings.layout.landing_dir.rglob("*.parquet")
                 for hit in parquet_hits(str(path), path.read_bytes(), number)]
    assert [hit.split("/landing/")[1].split("/")[0] for hit in late_hits] == [
        f"received_date={after.date().isoformat()}"], late_hits  # new-call's body only


def test_an_interrupted_landing_rewrite_is_finished_without_duplicates(tmp_path: Path) -> None:
    """The crash between writing a file's new version and removing the old one."""
    settings, rows, number = one_day_materialized(tmp_path, 40)
    store = landing_store_for(settings)
    with duckdb.connect() as con:
        hits = find_in_landing(con, store, [normalize_phone(number)])
    [(path, removed)] = hits.files.items()
    file = hits.listed[path]
    # What the rewrite writes first, then "crash": the old file is still there.
    table = pq.read_table(path)
    kept = table.filter(pc.invert(pc.is_in(table["delivery_id"],
                                           value_set=pa.array(sorted(removed)))))
    write_landing_bytes(settings.layout.landing_dir, file.day,
                        rewritten_name(file, removed), encode_table(kept).to_pybytes())
    assert len(list(settings.layout.landing_dir.rglob("*.parquet"))) == 2
    # A micro-batch before the rerun (the lock is free): the new file's rows are copies, not
    # deliveries to load again.
    assert materialize_days(settings, DAY1.date(), DAY1.date(), only_new_files=True).success
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*), count(distinct delivery_id) from deliveries"
                           ).fetchall() == [(len(rows), len(rows))]

    done = forget_cli(settings, "--phone", number)
    assert done.returncode == 0, done.stdout + done.stderr
    files = list(settings.layout.landing_dir.rglob("*.parquet"))
    assert len(files) == 1
    ids = [row for path in files for row in pq.read_table(path)["delivery_id"].to_pylist()]
    assert len(ids) == len(set(ids)) == len(rows) - len(removed)
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from deliveries").fetchall() == [(len(ids),)]


def test_forgetting_during_live_load_loses_no_acknowledged_delivery(tmp_path: Path) -> None:
    settings, _, number = one_day_materialized(tmp_path, 40)
    with served(settings.data_dir, TOKEN, tmp_path / "serve.log") as server:
        load = LoadGenerator([server.url], TOKEN, threads=4, per_thread=1_000_000)
        load.start()
        try:
            load.wait_for_acks(200)
            done = forget_cli(settings, "--phone", number)
            during = load.acked_count()
            load.wait_for_acks(during + 100)  # and it goes on answering
        finally:
            load.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 calls" in done.stdout
    assert set(load.statuses) == {"200"}, load.statuses
    landed = {delivery_id for path in settings.layout.landing_dir.rglob("*.parquet")
              for delivery_id in pq.read_table(path, columns=["delivery_id"])["delivery_id"]
              .to_pylist()}
    assert set(load.acked) <= landed, "an acknowledged delivery is missing"
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from calls where phone_number = $n",
                           {"n": number}).fetchall() == [(0,)]


def test_forgetting_a_number_leaves_no_trace_in_iceberg_tables_on_s3(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Iceberg keeps every snapshot's files: the erasure expires the earlier snapshots and
    deletes what only they referenced (data files, manifests with column bounds)."""
    with moto_s3() as s3:
        s3.create_bucket("lake")
        env = {**s3.env, "DESTINATION__FILESYSTEM__BUCKET_URL": "s3://lake/warehouse",
               "DESTINATION__FILESYSTEM__CREDENTIALS__AWS_ACCESS_KEY_ID":
                   s3.env["AWS_ACCESS_KEY_ID"],
               "DESTINATION__FILESYSTEM__CREDENTIALS__AWS_SECRET_ACCESS_KEY":
                   s3.env["AWS_SECRET_ACCESS_KEY"],
               "DESTINATION__FILESYSTEM__CREDENTIALS__ENDPOINT_URL": s3.url,
               "DESTINATION__FILESYSTEM__CREDENTIALS__REGION_NAME": "us-east-1"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings = make_settings(tmp_path, export_destinations="filesystem", timezone="UTC")
        [rows] = history(days=1, per_day=40)
        number, _ = target_of(rows)
        land(settings, rows[:20])
        assert materialize_days(settings, DAY1.date(), DAY1.date()).success
        assert (exported := export_now(settings)) is not None and exported.success
        land(settings, rows[20:])  # a second snapshot of every changed table
        assert materialize_days(settings, DAY1.date(), DAY1.date(), only_new_files=True).success
        assert (exported := export_now(settings)) is not None and exported.success

        def lake_hits() -> list[str]:
            found = []
            for key in s3.keys("lake"):
                data = s3.get("lake", key)
                found += [f"{key}: {form}" for form in number_forms(number)
                          if form.encode() in data]
                if key.endswith(".parquet"):
                    found += parquet_hits(key, data, number)
            return found

        assert lake_hits(), "the test must see the number in the lake first"
        done = forget_cli(settings, "--phone", number, OSVI_EXPORT_DESTINATIONS="filesystem",
                          **env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert lake_hits() == []
        assert "files of earlier snapshots deleted" in done.stdout
        # The tables still read, as the warehouse has them.
        metadata = sorted(key for key in s3.keys("lake", "warehouse/osvi/calls/metadata/")
                          if key.endswith(".metadata.json"))[-1]
        properties = {"s3.endpoint": s3.url, "s3.region": "us-east-1",
                      "s3.access-key-id": s3.env["AWS_ACCESS_KEY_ID"],
                      "s3.secret-access-key": s3.env["AWS_SECRET_ACCESS_KEY"]}
        calls = StaticTable.from_metadata(f"s3://lake/{metadata}", properties=properties)
        assert calls.scan().to_arrow().num_rows == con_rows(
            settings, "select count(*) from calls")[0][0]
