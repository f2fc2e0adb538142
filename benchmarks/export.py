"""The export to PostgreSQL (issue 29): the first export against PostgreSQL's own COPY of the
same Arrow data, a micro-batch's export, and ack -> queryable in PostgreSQL under `osvi up`.

`python -m benchmarks --only export [--export-deliveries N] [--export-minutes M]`:
1. N generated deliveries over `DAYS` days (benchmarks/pipeline.py's generator), `osvi
   materialize`, a PostgreSQL cluster of its own (osvi_testkit.postgres).
2. The floor: each exported table of the published copy read into Arrow and ingested with
   ADBC's `adbc_ingest` (binary COPY) into a fresh table; only the ingest is timed.
3. `osvi export` (a fresh process, what a cron user times) into an empty dataset.
4. `BATCHES` micro-batches of 300 new deliveries, each loaded by a landing-sensor-like run
   (not timed), then `export_now` timed: the changed rows merged.
5. `osvi up` with the export at `rate` deliveries a second for M minutes, a reader polling
   PostgreSQL for each call: ack -> queryable p50/p95.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx
import orjson
import psycopg2

from benchmarks.extraction_quality import _land_batch
from benchmarks.ingest import SAMPLE, TOKEN, _start
from benchmarks.pipeline import generate, materialize_history
from osvi_core.settings import Settings
from osvi_pipeline.runtime.materialize import export_now, materialize_days
from osvi_pipeline.warehouse.export import EXPORTED_TABLES, select_list
from osvi_pipeline.warehouse.queries import column_types
from osvi_testkit.postgres import create_database, postgres_server

OSVI = Path(sys.executable).with_name("osvi")
DAYS, BATCHES = 20, 5
PORT, DAGSTER_PORT = 18_490, 18_491


@dataclass
class ExportResult:
    deliveries: int
    calls: int = 0
    rows: int = 0  # rows of every exported table
    floor_seconds: float = 0.0
    first_seconds: float = 0.0
    batch_seconds: list[float] = field(default_factory=list)
    acked_at: dict[str, float] = field(default_factory=dict)  # call id -> ack time
    seen_at: dict[str, float] = field(default_factory=dict)
    minutes: float = 0.0
    rate: float = 0.0

    @property
    def latencies(self) -> list[float]:
        return sorted(self.seen_at[key] - self.acked_at[key] for key in self.seen_at
                      if key in self.acked_at)


def run(deliveries: int = 1_320_000, minutes: float = 3, rate: float = 100) -> ExportResult:
    result = ExportResult(deliveries, minutes=minutes, rate=rate)
    with tempfile.TemporaryDirectory(prefix="osvi-bench-export-") as tmp, \
            postgres_server() as (host, port):
        work = Path(tmp)
        data = work / "data"
        generate(data / "landing", work / "payloads.ndjson", deliveries, DAYS)
        base, first, last = materialize_history(data, DAYS, hidden=("DESTINATION__",))
        url = create_database(host, port, "osvi_export")
        result.floor_seconds, result.rows = _floor(data / "warehouse.duckdb", url)
        env = {**base, "OSVI_EXPORT_DESTINATIONS": "postgres",
               "DESTINATION__POSTGRES__CREDENTIALS": url}
        started = time.perf_counter()
        subprocess.run([str(OSVI), "export"], env=env, check=True, capture_output=True)
        result.first_seconds = time.perf_counter() - started
        with psycopg2.connect(url) as con, con.cursor() as cursor:
            cursor.execute("select count(*) from osvi.calls")
            result.calls = int(cursor.fetchone()[0])
        os.environ["DESTINATION__POSTGRES__CREDENTIALS"] = url
        settings = Settings(data_dir=data, timezone="UTC", first_day=first,
                            export_destinations="postgres")
        for seed in range(BATCHES):
            _land_batch(data / "landing", seed=100 + seed)
            assert materialize_days(settings, last, last, only_new_files=True).success
            started = time.perf_counter()
            exported = export_now(settings)
            assert exported is not None and exported.success
            result.batch_seconds.append(time.perf_counter() - started)
        _under_load(result, {**env, "OSVI_INGEST_TOKEN": TOKEN,
                             "OSVI_SENSOR_INTERVAL_SECONDS": "3"}, data, url)
    return result


def _floor(warehouse: Path, url: str) -> tuple[float, int]:
    """Seconds ADBC's binary COPY takes to ingest the exported tables' Arrow data; rows."""
    import adbc_driver_postgresql.dbapi as adbc

    seconds, rows = 0.0, 0
    with duckdb.connect(str(warehouse), read_only=True) as con, \
            adbc.connect(url) as target, target.cursor() as cursor:
        cursor.execute("create schema floor")
        for table in EXPORTED_TABLES:
            columns = select_list(column_types(con, table))
            arrow = con.sql(f'select {columns} from "{table}"').to_arrow_table()
            started = time.perf_counter()
            cursor.adbc_ingest(table, arrow, mode="create", db_schema_name="floor")
            target.commit()
            seconds += time.perf_counter() - started
            rows += arrow.num_rows
    return seconds, rows


def _under_load(result: ExportResult, env: dict[str, str], data: Path, url: str) -> None:
    up = _start([str(OSVI), "up", "--port", str(PORT), "--dagster-port", str(DAGSTER_PORT)],
                env, PORT, data.with_name("up.log"))
    stop, stop_reading = threading.Event(), threading.Event()
    sender = threading.Thread(target=_send, args=(result, stop), daemon=True)
    reader = threading.Thread(target=_read, args=(result, url, stop_reading), daemon=True)
    try:
        time.sleep(30)  # the daemon's first sensor ticks
        reader.start()
        sender.start()
        time.sleep(result.minutes * 60)
        stop.set()
        sender.join(30)
        deadline = time.monotonic() + 180
        while len(result.seen_at) < len(result.acked_at) and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        stop.set()
        stop_reading.set()
        up.terminate()
        up.wait(120)


def _send(result: ExportResult, stop: threading.Event) -> None:
    template = orjson.loads(SAMPLE)
    interval, due, sent = 1 / result.rate, time.monotonic(), 0
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            call_id = f"export-{sent}"
            response = client.post(f"http://127.0.0.1:{PORT}/webhooks/crm",
                                   content=orjson.dumps({**template, "call_log_id": call_id}),
                                   headers={"Authorization": f"Bearer {TOKEN}"})
            if response.status_code == 200:
                result.acked_at[call_id] = time.time()
            sent += 1
            due += interval
            time.sleep(max(due - time.monotonic(), 0))


def _read(result: ExportResult, url: str, stop: threading.Event) -> None:
    """Poll PostgreSQL as a BI tool would: which of the load's calls are there now."""
    with psycopg2.connect(url) as con:
        con.autocommit = True
        while not stop.wait(0.5):
            try:
                with con.cursor() as cursor:
                    cursor.execute("select call_log_id from osvi.calls "
                                   "where call_log_id like 'export-%'")
                    found = cursor.fetchall()
            except psycopg2.Error:
                continue
            now = time.time()
            for (call_id,) in found:
                result.seen_at.setdefault(call_id, now)


def markdown(result: ExportResult) -> str:
    latencies = result.latencies
    p50 = statistics.median(latencies) if latencies else float("nan")
    p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan")
    batch = statistics.median(result.batch_seconds) if result.batch_seconds else float("nan")
    ratio = result.first_seconds / result.floor_seconds if result.floor_seconds else float("nan")
    return "\n".join([
        f"{result.deliveries:,} deliveries ({result.calls:,} calls), {result.rows:,} rows in "
        f"the {len(EXPORTED_TABLES)} exported tables; {datetime.now(UTC):%Y-%m-%d}.",
        "",
        "| measure | result | target |",
        "|---|---:|---|",
        f"| first export (`osvi export`, a fresh process) | {result.first_seconds:.1f} s | |",
        f"| floor: ADBC binary COPY of the same Arrow data | {result.floor_seconds:.1f} s | |",
        f"| first export / floor | **{ratio:.2f}x** | ≤ 2x |",
        f"| a micro-batch's export (300 deliveries, median of {len(result.batch_seconds)}) | "
        f"**{batch:.2f} s** | ≤ 2 s |",
        f"| ack → queryable in PostgreSQL under `osvi up`, {result.rate:.0f}/s for "
        f"{result.minutes:g} min: p50 / p95 ({len(latencies):,} of "
        f"{len(result.acked_at):,} seen) | {p50:.1f} / **{p95:.1f} s** | p95 ≤ 30 s |",
    ])
