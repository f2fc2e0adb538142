"""Scale benchmark (issue 31): what import, the first run, a micro-batch and freshness cost as
history grows (default 100,000, 1,000,000 and 10,000,000 deliveries).

For each size N, on a fresh data dir:
1. N simulated deliveries over max(20, N / 50,000) days ending yesterday (the reproducible
   generator of benchmarks.pipeline, seeded), landed through the real journal.
2. `osvi import` of the same number of JSON Lines bodies into its own data dir (child process:
   seconds, peak RSS), against DuckDB's `read_json` -> Parquet floor in the same run.
3. The first run over every day (child process: seconds, peak RSS), against the write floor
   (the finished tables copied into a new file, benchmarks.pipeline._FLOOR).
4. Micro-batches: BATCHES times 300 new deliveries at the end of today, each loaded the way the
   landing sensor's run does (`only_new_files`, and only landing_job's checks, which scan
   nothing: the daily run makes the others), in-process; the median. Its ratio to the
   smallest size's median is the "a micro-batch costs what it brings" target (≤ 1.2).
5. Freshness under `osvi up` at 100 deliveries/s (benchmarks.freshness), p50/p95, for
   `--scale-fresh-minutes` minutes (0: skipped).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from benchmarks import freshness
from benchmarks.history_import import _osvi_import
from benchmarks.pipeline import _FLOOR, _OURS, _child, generate
from ingest_api.journal import DurableLanding
from osvi_cli.simulate import generate_deliveries
from osvi_core.body import inspect_body
from osvi_core.landing import LandingRow

BATCH, BATCHES = 300, 5
SIZES = (100_000, 1_000_000, 10_000_000)


@dataclass
class ScaleRow:
    deliveries: int
    days: int
    import_seconds: float = 0.0
    import_peak_mb: float = 0.0
    import_floor_seconds: float = 0.0
    first_seconds: float = 0.0
    first_peak_mb: float = 0.0
    write_floor_seconds: float = 0.0
    batch_seconds: list[float] | None = None
    fresh_p50: float | None = None
    fresh_p95: float | None = None
    fresh_minutes: float = 0.0

    @property
    def batch_median(self) -> float:
        return statistics.median(self.batch_seconds or [0.0])


def days_for(deliveries: int) -> int:
    return min(max(20, deliveries // 50_000), 200)


def run(sizes: tuple[int, ...] = SIZES, fresh_minutes: float = 10,
        batches: int = BATCHES) -> list[ScaleRow]:
    return [_one(size, fresh_minutes, batches) for size in sizes]


def _one(deliveries: int, fresh_minutes: float, batches: int) -> ScaleRow:
    row = ScaleRow(deliveries, days_for(deliveries), fresh_minutes=fresh_minutes)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=row.days)
    with tempfile.TemporaryDirectory(prefix="osvi-bench-scale-") as tmp:
        work = Path(tmp)
        data = work / "data"
        generate(data / "landing", work / "payloads.ndjson", deliveries, row.days, start=first)
        _import(row, work)
        env = {"OSVI_DATA_DIR": str(data), "OSVI_TIMEZONE": "UTC",
               "OSVI_FIRST_DAY": first.date().isoformat()}
        row.first_seconds, row.first_peak_mb, _ = _child(
            _OURS.format(start=first.date(), end=(today - timedelta(days=1)).date()), env)
        row.write_floor_seconds, _, _ = _child(
            _FLOOR.format(floor=work / "floor.duckdb",
                          working=data / "pipeline" / "warehouse.duckdb"), env)
        (work / "floor.duckdb").unlink(missing_ok=True)
        row.batch_seconds = _micro_batches(data, first, today, batches)
        if fresh_minutes > 0:
            _freshness(row, data / "landing", work / "fresh", fresh_minutes)
    return row


def _import(row: ScaleRow, work: Path) -> None:
    source = work / "history.jsonl"
    with open(source, "wb") as out:
        for delivery in generate_deliveries(row.deliveries, seed=3, retry_rate=0):
            out.write(delivery.body + b"\n")
    measured = _osvi_import(work / "import-data", source)
    row.import_seconds, row.import_peak_mb = measured.seconds, measured.peak_mb or 0.0
    started = time.perf_counter()
    with duckdb.connect() as con:
        con.execute("copy (select * from read_json($file, format = 'newline_delimited')) "
                    "to $out (format parquet, compression zstd)",
                    {"file": str(source), "out": str(work / "peer.parquet")})
    row.import_floor_seconds = time.perf_counter() - started
    source.unlink()
    (work / "peer.parquet").unlink()


def _micro_batches(data: Path, first: datetime, today: datetime, batches: int
                   ) -> list[float]:
    from osvi_core.settings import Settings
    from osvi_pipeline.runtime.instance import persistent_instance
    from osvi_pipeline.runtime.materialize import materialize_days

    settings = Settings(data_dir=data, timezone="UTC", first_day=first.date())
    os.environ["DAGSTER_HOME"] = str(settings.layout.dagster_home)
    instance = persistent_instance(settings)
    seconds = []
    for batch in range(batches + 1):  # the first one warms the page cache: not counted
        _land_batch(data / "landing", today, batch)
        started = time.perf_counter()
        assert materialize_days(settings, today.date(), today.date(), instance=instance,
                                only_new_files=True, cheap_checks_only=True).success
        if batch:
            seconds.append(time.perf_counter() - started)
    return seconds


def _land_batch(landing: Path, today: datetime, batch: int) -> None:
    store = DurableLanding.for_folder(landing)
    base_us = int((today + timedelta(hours=1)).timestamp() * 1e6) + batch * BATCH * 1000
    rows = []
    for index, item in enumerate(generate_deliveries(BATCH, seed=50_000 + batch)):
        inspected = inspect_body(item.body, "POST")
        rows.append(LandingRow(f"scale-batch{batch}-{index}", base_us + index * 1000,
                               item.integration, "POST", f"/webhooks/{item.integration}", None,
                               "{}", inspected.text, inspected.sha256, inspected.call_log_id,
                               None))
    store.append(rows)
    store.drain()


def _freshness(row: ScaleRow, landing: Path, data: Path, minutes: float) -> None:
    result = freshness.Freshness(row.deliveries, 100, minutes, 3, mode="osvi up")
    env = {"OSVI_INGEST_TOKEN": freshness.TOKEN, "OSVI_TIMEZONE": "UTC",
           "OSVI_SENSOR_INTERVAL_SECONDS": "3"}
    freshness._measure(result, landing, data, env, [])
    latencies = result.latencies
    if latencies:
        row.fresh_p50 = statistics.median(latencies)
        row.fresh_p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]


def markdown(rows: list[ScaleRow]) -> str:
    base = rows[0].batch_median or 1.0
    lines = [
        "`python -m benchmarks --only scale` (2 cores; sizes " + ", ".join(
            f"{row.deliveries:,}" for row in rows) + f"; micro-batches of {BATCH}, median of "
        f"{BATCHES})",
        "",
        "| history | days | import | import RSS | vs read_json | first run | first-run RSS | "
        "vs write floor | micro-batch | vs smallest | freshness p50 | p95 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        fresh = (f"{row.fresh_p50:.1f} s | {row.fresh_p95:.1f} s" if row.fresh_p95 is not None
                 else "— | —")
        lines.append(
            f"| {row.deliveries:,} | {row.days} | {row.import_seconds:.1f} s | "
            f"{row.import_peak_mb:.0f} MB | {row.import_seconds / row.import_floor_seconds:.1f}x "
            f"| {row.first_seconds:.1f} s | {row.first_peak_mb:.0f} MB | "
            f"{row.first_seconds / row.write_floor_seconds:.1f}x | {row.batch_median:.2f} s | "
            f"{row.batch_median / base:.2f} | {fresh} |")
    return "\n".join(lines)
