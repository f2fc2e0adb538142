"""Freshness: from a delivery's 200 to the moment it is queryable in OSVI_WAREHOUSE.

`osvi up` (the ingest API plus Dagster with its landing sensor) runs on a data dir that already
holds `history` deliveries of earlier days, built by one `osvi materialize`. Deliveries of the
OSVI sample's shape are then sent at `rate` a second for `minutes`, each with its own call;
a reader polls the published warehouse (read-only, as analysts do) and notes when each
delivery id first appears there. Reported: p50/p95/max ack->visible, deliveries never seen,
the landing sensor's runs and the warehouse publications seen, under `osvi up` and under
`osvi up --production` (Dagster's production processes, the instance on PostgreSQL). Run it
twice to compare settings (e.g. the sensor's interval) in the same session: the machine is 2
cores and noisy.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx
import orjson

from benchmarks.ingest import BIN, SAMPLE, TOKEN, _start
from benchmarks.pipeline import START, generate
from osvi_testkit.postgres import create_database, postgres_server
from osvi_testkit.processes import free_port

PORT = 18_480
MODES_DEFAULT = "osvi up"
DAGSTER_PORT = 18_481


@dataclass
class Freshness:
    history: int
    rate: float
    minutes: float
    sensor_interval: int
    sent: int = 0
    acked_at: dict[str, float] = field(default_factory=dict)
    seen_at: dict[str, float] = field(default_factory=dict)
    mode: str = MODES_DEFAULT
    publications: int = 0
    runs: int = 0
    setup_seconds: float = 0.0

    @property
    def latencies(self) -> list[float]:
        return sorted(self.seen_at[key] - self.acked_at[key] for key in self.seen_at
                      if key in self.acked_at)


def _send(result: Freshness, stop: threading.Event) -> None:
    """`rate` deliveries a second, paced on a clock (not on answers)."""
    template = orjson.loads(SAMPLE)
    interval = 1 / result.rate
    due = time.monotonic()
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            body = {**template, "call_log_id": f"fresh-{result.sent}"}
            response = client.post(f"http://127.0.0.1:{PORT}/webhooks/crm",
                                    content=orjson.dumps(body),
                                    headers={"Authorization": f"Bearer {TOKEN}"})
            if response.status_code == 200:
                result.acked_at[response.json()["delivery_id"]] = time.time()
            result.sent += 1
            due += interval
            time.sleep(max(due - time.monotonic(), 0))


def _read(result: Freshness, warehouse: Path, stop: threading.Event) -> None:
    """Poll the published warehouse for today's deliveries, as an analyst's query would."""
    last_mtime = 0.0
    since = datetime.now(UTC)
    while not stop.wait(0.25):
        try:
            mtime = warehouse.stat().st_mtime
            if mtime == last_mtime:
                continue
            with duckdb.connect(str(warehouse), read_only=True) as con:
                ids = con.execute("select delivery_id from deliveries where received_at >= $s",
                                  {"s": since}).fetchall()
        except (OSError, duckdb.Error):
            continue
        now = time.time()
        last_mtime = mtime
        result.publications += 1
        for (delivery_id,) in ids:
            result.seen_at.setdefault(delivery_id, now)


MODES = (MODES_DEFAULT, "osvi up --production")


def run(history: int = 1_000_000, rate: float = 100, minutes: float = 10,
        sensor_interval: int = 3, tree: Path | None = None,
        modes: tuple[str, ...] = MODES) -> list[Freshness]:
    """One measurement per mode, each on its own copy of one history. `--production` runs
    Dagster's production processes with the instance on a PostgreSQL of its own, as
    docs/deploy.md sets it up. `tree`: another checkout (e.g. a git worktree of an earlier
    revision) whose code runs instead of this one's, on this venv's packages: the before/after
    comparison."""
    results = []
    with tempfile.TemporaryDirectory(prefix="osvi-fresh-") as tmp:
        work = Path(tmp)
        landing = work / "landing"
        env = {"OSVI_INGEST_TOKEN": TOKEN, "OSVI_TIMEZONE": "UTC",
               "OSVI_SENSOR_INTERVAL_SECONDS": str(sensor_interval),
               **({"PYTHONPATH": str(tree)} if tree else {})}
        days = max((datetime.now(UTC) - START).days, 1)  # history up to yesterday
        generate(landing, work / "payloads.jsonl", history, days)
        for mode in modes:
            data = work / mode.replace(" ", "").replace("-", "_")
            result = Freshness(history, rate, minutes, sensor_interval, mode=mode)
            if mode.endswith("--production"):
                with postgres_server() as (host, port):
                    url = create_database(host, port, "osvi_fresh")
                    _measure(result, landing, data, {**env, "OSVI_DAGSTER_POSTGRES_URL": url},
                             ["--production"])
            else:
                _measure(result, landing, data, env, [])
            results.append(result)
    return results


def _measure(result: Freshness, landing: Path, data: Path, env: dict[str, str],
             flags: list[str]) -> None:
    """The history built by `osvi materialize` in this mode's instance (so the sensor's first
    look knows those days are loaded), then the load and the reader."""
    started = time.perf_counter()
    shutil.copytree(landing, data / "landing")
    subprocess.run([str(BIN / "osvi"), "materialize"],
                   env={**os.environ, **env, "OSVI_DATA_DIR": str(data)},
                   check=True, capture_output=True)
    result.setup_seconds = time.perf_counter() - started
    # The explorer on a free port: the default 8080 may be taken (CI runs tests side by side).
    up = _start([str(BIN / "osvi"), "up", "--port", str(PORT), "--dagster-port",
                 str(DAGSTER_PORT), "--explorer-port", str(free_port()), *flags],
                {**env, "OSVI_DATA_DIR": str(data)}, PORT, data.with_name(f"{data.name}.log"))
    stop, stop_reading = threading.Event(), threading.Event()
    reader = threading.Thread(target=_read, args=(result, data / "warehouse.duckdb",
                                                  stop_reading), daemon=True)
    sender = threading.Thread(target=_send, args=(result, stop), daemon=True)
    try:
        reader.start()
        sender.start()
        time.sleep(result.minutes * 60)
        stop.set()
        sender.join(30)
        deadline = time.monotonic() + 180  # the last deliveries still arrive
        while len(result.seen_at) < len(result.acked_at) and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        stop.set()
        stop_reading.set()
        result.runs = _sensor_runs(data / "dagster", env)
        up.terminate()
        up.wait(120)


def _sensor_runs(home: Path, env: dict[str, str]) -> int:
    """The landing sensor's runs that succeeded, read from the instance as the UI would."""
    code = ("import dagster as dg; i = dg.DagsterInstance.get(); print(len(i.get_runs("
            "dg.RunsFilter(job_name='landing_job', statuses=[dg.DagsterRunStatus.SUCCESS]))))")
    done = subprocess.run([str(BIN / "python"), "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env, "DAGSTER_HOME": str(home),
                               **_postgres_driver_url(env)})
    return int(done.stdout.strip() or -1)


def _postgres_driver_url(env: dict[str, str]) -> dict[str, str]:
    """The variable the instance's dagster.yaml reads, as `osvi up` sets it for Dagster."""
    from osvi_pipeline.runtime.instance import DRIVER_URL_VARIABLE, psycopg2_url

    url = env.get("OSVI_DAGSTER_POSTGRES_URL")
    return {DRIVER_URL_VARIABLE: psycopg2_url(url)} if url else {}


def markdown(results: list[Freshness]) -> str:
    first = results[0]
    lines = [
        f"{first.history:,} deliveries of history, {first.rate:.0f} deliveries/s for "
        f"{first.minutes:g} min, OSVI_SENSOR_INTERVAL_SECONDS={first.sensor_interval}; set-up "
        "(history built by `osvi materialize`) "
        + ", ".join(f"{r.setup_seconds:.0f} s" for r in results) + ".",
        "",
        "| Dagster | acknowledged | visible | p50 s | p95 s | max s | sensor runs | "
        "publications seen |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        latencies = result.latencies
        if not latencies:
            lines.append(f"| `{result.mode}` | {len(result.acked_at):,} | none | | | | "
                         f"{result.runs} | {result.publications} |")
            continue
        p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
        lines.append(
            f"| `{result.mode}` | {len(result.acked_at):,} | {len(latencies):,} (never: "
            f"{len(result.acked_at) - len(latencies)}) | {statistics.median(latencies):.1f} | "
            f"{p95:.1f} | {latencies[-1]:.1f} | {result.runs} | {result.publications} |")
    return "\n".join(lines)
