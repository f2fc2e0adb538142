"""Landing listing and compaction (issue 31): what the landing sensor lists on each look, with a
week of live landing before and after its closed days are compacted, and what compacting a day
costs against DuckDB's own copy of the same files.

1. Local: a day folder as the default 1 s publication leaves it (86,400 files): the sensor
   lists today's folder only (folder mtimes); listing it, against listing a compacted day.
2. S3 (moto): a week of one replica's objects (5,760 a day at one per 15 s): the sensor lists
   the last 7 days' prefixes on every look; the same listing once the 6 closed days are one
   object each (what the daily run's compaction leaves).
3. Compacting a day of small files that the pipeline loaded by micro-batches: `compact_day`
   (the parts, the watermark moved and checked) against a DuckDB `COPY` of the same files to
   one Parquet file (the floor: read every file, write them once).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from osvi_cli.simulate import generate_deliveries
from osvi_core.body import inspect_body
from osvi_core.landing import PARTITION_PREFIX, LandingRow, encode_parquet
from osvi_core.landing_store import LocalLandingStore, S3LandingStore
from osvi_core.settings import Settings

LOCAL_FILES = 86_400  # a day at OSVI_JOURNAL_SEGMENT_SECONDS=1 with a delivery every second
S3_OBJECTS = 5_760  # a day of one replica at one segment per 15 s
WEEK = 7
REPEATS = 5
HOURLY_FOLDER = 3_600 + 23  # at most an hour of 1 s files, and a part for each hour before


@dataclass
class ListingResult:
    local_files: int
    local_day_seconds: float = 0.0
    local_compacted_seconds: float = 0.0
    local_hourly_seconds: float = 0.0  # today's folder as the hourly compaction keeps it
    s3_objects: int = 0
    s3_week_seconds: float = 0.0
    s3_compacted_seconds: float = 0.0
    compact_files: int = 0
    compact_rows: int = 0
    compact_seconds: float = 0.0
    copy_floor_seconds: float = 0.0


def run(local_files: int = LOCAL_FILES, s3_objects: int = S3_OBJECTS,
        compact_files: int = 2_000, rows_per_file: int = 20) -> ListingResult:
    result = ListingResult(local_files, s3_objects=s3_objects, compact_files=compact_files,
                           compact_rows=compact_files * rows_per_file)
    with tempfile.TemporaryDirectory(prefix="osvi-bench-listing-") as tmp:
        work = Path(tmp)
        _local(result, work)
        _s3(result)
        _compaction(result, work, rows_per_file)
    return result


def _one_row_file() -> bytes:
    row = ("d", int(datetime.now(UTC).timestamp() * 1e6), "crm", "POST", "/webhooks/crm", None,
           "{}", "{}", None, None, None, None)
    return encode_parquet([row]).to_pybytes()


def _median_seconds(action: object) -> float:
    seconds = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def _local(result: ListingResult, work: Path) -> None:
    store = LocalLandingStore(work / "landing", work / "quarantine")
    data = _one_row_file()
    for day, files in (("2026-11-26", result.local_files), ("2026-11-25", 1),
                       ("2026-11-27", HOURLY_FOLDER)):
        folder = store.directory / f"{PARTITION_PREFIX}{day}"
        folder.mkdir(parents=True)
        for index in range(files):
            (folder / f"r1-{index:08d}.parquet").write_bytes(data)
    assert len(store.files("2026-11-26")) == result.local_files
    result.local_day_seconds = _median_seconds(lambda: store.files("2026-11-26"))
    result.local_compacted_seconds = _median_seconds(lambda: store.files("2026-11-25"))
    result.local_hourly_seconds = _median_seconds(lambda: store.files("2026-11-27"))


def _s3(result: ListingResult) -> None:
    from osvi_testkit.s3 import moto_s3

    with moto_s3() as endpoint:
        import os

        os.environ.update(endpoint.env)
        endpoint.create_bucket("landing")
        client = endpoint.client()
        data = _one_row_file()
        today = datetime.now(UTC).date()
        days = [(today - timedelta(days=back)).isoformat() for back in range(WEEK)]
        keys = [f"l/{PARTITION_PREFIX}{day}/r1-{index:08d}.parquet"
                for day in days for index in range(result.s3_objects)]
        with ThreadPoolExecutor(8) as pool:  # moto's server is threaded
            list(pool.map(lambda key: client.put_object(  # type: ignore[attr-defined]
                Bucket="landing", Key=key, Body=data), keys))
        store = S3LandingStore("s3://landing/l")
        since = time.time_ns()

        def sensor_listing() -> int:
            return sum(len(store.files(day)) for day in store.days_changed_since(since))

        assert sensor_listing() == WEEK * result.s3_objects
        result.s3_week_seconds = _median_seconds(sensor_listing)
        for day in days[1:]:  # the closed days, as compaction leaves them: one object each
            keys = [{"Key": f"l/{PARTITION_PREFIX}{day}/r1-{index:08d}.parquet"}
                    for index in range(1, result.s3_objects)]
            for start in range(0, len(keys), 1000):  # S3 deletes at most 1,000 per request
                client.delete_objects(  # type: ignore[attr-defined]
                    Bucket="landing", Delete={"Objects": keys[start:start + 1000]})
        assert sensor_listing() == result.s3_objects + WEEK - 1
        result.s3_compacted_seconds = _median_seconds(sensor_listing)


def _compaction(result: ListingResult, work: Path, rows_per_file: int) -> None:
    from ingest_api.journal import DurableLanding
    from osvi_pipeline.runtime.materialize import materialize_days
    from osvi_pipeline.warehouse.landing_compaction import compact_day

    day = date(2026, 11, 26)
    midnight = datetime(2026, 11, 26, tzinfo=UTC)
    settings = Settings(data_dir=work / "data", timezone="UTC", first_day=day)
    landing = DurableLanding.for_folder(settings.layout.landing_dir)
    bodies = generate_deliveries(result.compact_rows, seed=7)
    step_us = 86_400 * 10**6 // result.compact_rows
    for file in range(result.compact_files):
        rows = []
        for index in range(rows_per_file):
            item = next(bodies)
            inspected = inspect_body(item.body, "POST")
            number = file * rows_per_file + index
            rows.append(LandingRow(f"c-{number}", int(midnight.timestamp() * 1e6) +
                                   number * step_us, item.integration, "POST",
                                   f"/webhooks/{item.integration}", None, "{}", inspected.text,
                                   inspected.sha256, inspected.call_log_id, None))
        landing.append(rows)
        landing.drain()  # one file per segment, as a live day
    assert materialize_days(settings, day, day, only_new_files=True,
                            cheap_checks_only=True).success
    folder = settings.layout.landing_dir / f"{PARTITION_PREFIX}{day}"
    with duckdb.connect() as con:
        started = time.perf_counter()
        con.execute("copy (select * from read_parquet($files)) to $out (format parquet, "
                    "compression zstd)", {"files": sorted(str(f) for f in folder.iterdir()),
                                          "out": str(work / "floor.parquet")})
        result.copy_floor_seconds = time.perf_counter() - started
    store = LocalLandingStore(settings.layout.landing_dir, settings.layout.quarantine_dir)
    with duckdb.connect(str(settings.layout.pipeline_warehouse_path)) as con:
        started = time.perf_counter()
        done = compact_day(con, store, day.isoformat(), work / "scratch")
        result.compact_seconds = time.perf_counter() - started
    assert done.files_merged == result.compact_files and done.rows == result.compact_rows


def markdown(result: ListingResult) -> str:
    return "\n".join([
        "`python -m benchmarks --only listing` (2 cores; median of "
        f"{REPEATS} listings)",
        "",
        "| what the sensor lists | files | ms |",
        "|---|---:|---:|",
        f"| local: today's folder, 1 s publication | {result.local_files:,} | "
        f"{result.local_day_seconds * 1e3:.1f} |",
        f"| local: today's folder at 23:59 with the hourly compaction | {HOURLY_FOLDER:,} | "
        f"{result.local_hourly_seconds * 1e3:.1f} |",
        f"| local: a compacted day | 1 | {result.local_compacted_seconds * 1e3:.2f} |",
        f"| S3 (moto): 7 days of one replica | {WEEK * result.s3_objects:,} | "
        f"{result.s3_week_seconds * 1e3:.0f} |",
        f"| S3 (moto): the same week, 6 closed days compacted | "
        f"{result.s3_objects + WEEK - 1:,} | {result.s3_compacted_seconds * 1e3:.0f} |",
        "",
        f"Compacting a day of {result.compact_files:,} files ({result.compact_rows:,} "
        f"deliveries): {result.compact_seconds:.1f} s, against {result.copy_floor_seconds:.1f} s "
        "for DuckDB's copy of the same files to one file "
        f"({result.compact_seconds / result.copy_floor_seconds:.1f}x: the hourly counts, the "
        "sort by receipt time and the watermark's per-window counts come on top).",
    ])
