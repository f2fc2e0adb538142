"""Erasure benchmark (issue 30): forget one phone number in a 1,000,000-delivery landing over
30 days, on local disk and on S3 (moto).

1. Generate and land N deliveries over 30 days (benchmarks.pipeline.generate), materialize them.
2. Local: `osvi forget` of one number, in-process, each step timed: the journal, the landing scan
   and rewrite, the working file, the pipeline's rebuild, writing the working file anew and
   republishing. Bytes rewritten against landing's total: only the affected files.
3. S3: the same landing uploaded to a moto bucket; the landing steps (scan, rewrite) of the
   same erasure against it (the warehouse steps do not depend on where landing is).
The peer for the landing steps is DuckDB reading every body once (`count(*) where body like`):
the floor of any scan that must look at every body.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import orjson
import pyarrow.parquet as pq

from benchmarks.pipeline import generate, materialize_history
from osvi_core.erasure import normalize_phone
from osvi_core.landing_store import S3LandingStore
from osvi_core.settings import Settings

DAYS = 30


@dataclass
class ErasureResult:
    deliveries: int
    landing_bytes: int = 0
    landing_files: int = 0
    scan_floor_seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # local, in-process
    total_seconds: float = 0.0
    files_rewritten: int = 0
    bytes_rewritten: int = 0
    removed: tuple[int, int] = (0, 0)  # calls, deliveries
    s3_scan_seconds: float = 0.0
    s3_rewrite_seconds: float = 0.0
    s3_floor_seconds: float = 0.0


def run(deliveries: int = 1_000_000) -> ErasureResult:
    from osvi_cli.forget import forget

    result = ErasureResult(deliveries)
    with tempfile.TemporaryDirectory(prefix="osvi-bench-erasure-") as tmp:
        work = Path(tmp)
        data = work / "data"
        generate(data / "landing", work / "payloads.ndjson", deliveries, DAYS)
        _, first, _ = materialize_history(data, DAYS)
        files = sorted((data / "landing").rglob("*.parquet"))
        result.landing_files = len(files)
        result.landing_bytes = sum(path.stat().st_size for path in files)
        number = _a_number(files[len(files) // 2])
        result.scan_floor_seconds = _scan_floor([str(path) for path in files])
        # The same landing for the bucket, read before the erasure rewrites it.
        uploaded = [(str(path.relative_to(data / "landing")), path.read_bytes())
                    for path in files]
        settings = Settings(data_dir=data, timezone="UTC", first_day=first)
        os.environ["DAGSTER_HOME"] = str(settings.layout.dagster_home)
        marks: list[tuple[str, float]] = []
        started = time.perf_counter()
        report = forget(settings, [normalize_phone(number)], "benchmark", False,
                        on_step=lambda step: marks.append((step, time.perf_counter())))
        result.total_seconds = time.perf_counter() - started
        marks.append(("end", time.perf_counter()))
        result.steps = {step: end - begin for (step, begin), (_, end)
                        in itertools.pairwise(marks)}
        result.files_rewritten = report.landing_files
        result.bytes_rewritten = report.landing_bytes_written
        result.removed = report.per_subject[0]
        _on_s3(result, uploaded, number)
    return result


def _a_number(path: Path) -> str:
    for body in pq.read_table(path, columns=["body"])["body"].to_pylist():
        phone = orjson.loads(body).get("phone_number")
        if phone:
            return str(phone)
    raise AssertionError("no number in that file")


def _scan_floor(files: list[str]) -> float:
    with duckdb.connect() as con:
        started = time.perf_counter()
        con.execute("select count(*) from read_parquet($files) where body like '%+91%'",
                    {"files": files}).fetchall()
        return time.perf_counter() - started


def _on_s3(result: ErasureResult, files: list[tuple[str, bytes]], number: str) -> None:
    from osvi_pipeline.warehouse.erasure import find_in_landing, rewrite_landing
    from osvi_pipeline.warehouse.landing_files import register_landing
    from osvi_testkit.s3 import moto_s3

    with moto_s3() as s3:
        for name, value in s3.env.items():
            os.environ[name] = value
        s3.create_bucket("bench")
        for key, data in files:
            s3.put("bench", f"landing/{key}", data)
        store = S3LandingStore("s3://bench/landing")
        subject = normalize_phone(number)
        with duckdb.connect() as con:
            started = time.perf_counter()
            hits = find_in_landing(con, store, [subject])
            result.s3_scan_seconds = time.perf_counter() - started
            started = time.perf_counter()
            rewrite_landing(store, hits)
            result.s3_rewrite_seconds = time.perf_counter() - started
            register_landing(con, store)
            paths = [file.path for day in store.days() for file in store.files(day)]
            started = time.perf_counter()
            con.execute("select count(*) from read_parquet($files) where body like '%+91%'",
                        {"files": paths}).fetchall()
            result.s3_floor_seconds = time.perf_counter() - started


def markdown(result: ErasureResult) -> str:
    landing_local = sum(seconds for step, seconds in result.steps.items()
                        if step in ("the journal", "landing"))
    lines = [
        f"{result.deliveries:,} deliveries over {DAYS} days in {result.landing_files} landing "
        f"files ({result.landing_bytes / 1e6:.0f} MB); one phone number forgotten: "
        f"{result.removed[0]} call(s), {result.removed[1]} deliveries.",
        "",
        "| step | local disk | S3 (moto) |",
        "|---|---:|---:|",
        f"| landing: scan every file, rewrite the affected ones | {landing_local:.1f} s | "
        f"{result.s3_scan_seconds + result.s3_rewrite_seconds:.1f} s |",
        f"| peer: DuckDB reading every body once (`like`) | {result.scan_floor_seconds:.1f} s |"
        f" {result.s3_floor_seconds:.1f} s |",
        f"| files rewritten / bytes | {result.files_rewritten} / "
        f"{result.bytes_rewritten / 1e6:.2f} MB of {result.landing_bytes / 1e6:.0f} MB | "
        "same |",
    ]
    for step, seconds in result.steps.items():
        if step not in ("the journal", "landing"):
            lines.append(f"| {step} | {seconds:.1f} s | |")
    lines.append(f"| **whole `osvi forget`** | **{result.total_seconds:.1f} s** | |")
    return "\n".join(lines)
