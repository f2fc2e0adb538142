"""The campaign explorer over a large history (issue 27): each page's latency through the real
server beside the bare DuckDB queries of the same data, and /calls.csv's rate and memory.

`python -m benchmarks --only explorer [--explorer-deliveries N]`: lands N deliveries over 7 days
(benchmarks/pipeline.py's generator), runs `osvi materialize`, starts `osvi explore`, then
times, one request at a time, the overview, the largest campaign, calls page 1 and one call
page (each `REQUESTS` times after `WARMUP`), and the same queries in-process on a read-only
connection (osvi_explorer/queries.py: what the page runs, without HTTP and templates). The CSV
streams every call of the busiest day; the explorer's peak RSS is read from /proc (VmHWM).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import quote

import duckdb
import httpx

from benchmarks.pipeline import generate, materialize_history
from osvi_explorer import views
from osvi_explorer.filters import CallFilters
from osvi_testkit.processes import free_port, wait_until

OSVI = Path(sys.executable).with_name("osvi")
DAYS = 7
WARMUP, REQUESTS = 3, 40


@dataclass(frozen=True)
class Timing:
    page: str
    p50_ms: float
    p95_ms: float
    bare_p50_ms: float
    bare_p95_ms: float


@dataclass(frozen=True)
class Result:
    deliveries: int
    calls: int
    pages: list[Timing]
    csv_rows: int
    csv_seconds: float
    peak_rss_mb: float
    setup_seconds: float


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(0.95 * (len(ordered) - 1))] * 1000


def _time(action: Callable[[], object]) -> tuple[float, float]:
    for _ in range(WARMUP):
        action()
    samples = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return _percentiles(samples)


def run(deliveries: int = 1_320_000) -> Result:
    with tempfile.TemporaryDirectory(prefix="osvi-bench-explorer-") as tmp:
        work = Path(tmp)
        data = work / "data"
        started = time.perf_counter()
        generate(data / "landing", work / "payloads.ndjson", deliveries, DAYS)
        env, first, last = materialize_history(data, DAYS)
        setup = time.perf_counter() - started
        return _measure(data, env, first, last, deliveries, setup)


def _measure(data: Path, env: dict[str, str], first: date, last: date, deliveries: int,
             setup: float) -> Result:
    warehouse = data / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        calls = int(con.execute("select count(*) from calls").fetchall()[0][0])
        [(campaign,)] = con.execute("select campaign from campaign_daily group by all "
                                    "order by sum(calls) desc limit 1").fetchall()
        [(call_id,)] = con.execute("select call_log_id from calls order by call_log_id "
                                   "limit 1 offset 1000").fetchall()
        [(busiest,)] = con.execute("select call_date from campaign_daily group by all "
                                   "order by sum(calls) desc limit 1").fetchall()
    port = free_port()
    log = data.parent / "explorer.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([str(OSVI), "explore", "--port", str(port)], env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    span = f"start={first}&end={last}"
    try:
        wait_until("the explorer", lambda: httpx.get(f"{url}/healthz", timeout=2)
                   .status_code == 200, timeout=60, process=server, log=log)
        client = httpx.Client(timeout=120)
        filters = CallFilters(start=first, end=last)
        pages = {
            "overview": (f"/?{span}", lambda c: views.overview(c, first, last)),
            f"campaign ({campaign})": (f"/campaigns/{quote(campaign, safe='')}?{span}",
                                       lambda c: views.campaign(c, campaign, first, last)),
            "calls, page 1": (f"/calls?{span}", lambda c: views.calls(c, filters)),
            "one call": (f"/calls/{quote(call_id, safe='')}",
                         lambda c: views.call(c, call_id)),
        }
        timings = []
        with duckdb.connect(str(warehouse), read_only=True) as con:
            for name, (path, bare) in pages.items():
                def fetch(path: str = path) -> None:
                    answer = client.get(url + path)
                    assert answer.status_code == 200, (path, answer.status_code)
                p50, p95 = _time(fetch)
                bare50, bare95 = _time(lambda bare=bare: bare(con))
                timings.append(Timing(name, p50, p95, bare50, bare95))
        csv_started = time.perf_counter()
        rows = -1  # the header
        with client.stream("GET", f"{url}/calls.csv?start={busiest}&end={busiest}") as answer:
            for line in answer.iter_lines():
                rows += bool(line)
        csv_seconds = time.perf_counter() - csv_started
        peak = _peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    return Result(deliveries, calls, timings, rows, csv_seconds, peak, setup)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def markdown(result: Result) -> str:
    lines = [
        f"{result.deliveries:,} deliveries over {DAYS} days = {result.calls:,} calls; "
        f"one request at a time, {REQUESTS} per page after {WARMUP} warm-up; the bare column "
        "runs the page's own queries in-process on a read-only connection (no HTTP, no "
        f"templates). Built in {result.setup_seconds:.0f} s (landing + `osvi materialize`).",
        "",
        "| page | p50 ms | p95 ms | bare queries p50 ms | bare p95 ms | page / bare (p95) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for timing in result.pages:
        lines.append(f"| {timing.page} | {timing.p50_ms:.0f} | {timing.p95_ms:.0f} | "
                     f"{timing.bare_p50_ms:.0f} | {timing.bare_p95_ms:.0f} | "
                     f"{timing.p95_ms / max(timing.bare_p95_ms, 0.001):.2f} |")
    rate = result.csv_rows / result.csv_seconds if result.csv_seconds else 0
    lines += ["", f"`/calls.csv` of the busiest day: {result.csv_rows:,} rows in "
                  f"{result.csv_seconds:.1f} s = **{rate:,.0f} rows/s**; the explorer's peak "
                  f"RSS over the whole run: **{result.peak_rss_mb:.0f} MB**."]
    return "\n".join(lines)
