"""Freshness: from a delivery's 200 to the moment it is queryable in OSVI_WAREHOUSE.

`osvi up` (the ingest API plus Dagster with its landing sensor) runs on a data dir that already
holds `history` deliveries of earlier days, built by one `osvi materialize`. Deliveries of the
OSVI sample's shape are then sent at `rate` a second for `minutes`, each with its own call;
a reader polls the published warehouse (read-only, as analysts do) and notes when each
delivery id first appears there. Reported: p50/p95/max ack->visible, deliveries never seen,
and the warehouse publications seen. Run it twice to compare settings (e.g. the sensor's
interval) in the same session: the machine is 2 cores and noisy.
"""

from __future__ import annotations

import os
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

PORT = 18_480
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
    publications: int = 0
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


def run(history: int = 1_000_000, rate: float = 100, minutes: float = 10,
        sensor_interval: int = 3, tree: Path | None = None) -> Freshness:
    """`tree`: another checkout (e.g. a git worktree of an earlier revision) whose code runs
    instead of this one's, on this venv's packages: the before/after comparison."""
    result = Freshness(history, rate, minutes, sensor_interval)
    with tempfile.TemporaryDirectory(prefix="osvi-fresh-") as tmp:
        work = Path(tmp)
        data = work / "data"
        env = {"OSVI_DATA_DIR": str(data), "OSVI_INGEST_TOKEN": TOKEN, "OSVI_TIMEZONE": "UTC",
               "OSVI_SENSOR_INTERVAL_SECONDS": str(sensor_interval),
               **({"PYTHONPATH": str(tree)} if tree else {})}
        started = time.perf_counter()
        days = max((datetime.now(UTC) - START).days, 1)  # history up to yesterday
        generate(data / "landing", work / "payloads.jsonl", history, days)
        subprocess.run([str(BIN / "osvi"), "materialize"], env={**os.environ, **env},
                       check=True, capture_output=True)
        result.setup_seconds = time.perf_counter() - started
        up = _start([str(BIN / "osvi"), "up", "--port", str(PORT), "--dagster-port",
                     str(DAGSTER_PORT)], env, PORT, work / "up.log")
        stop, stop_reading = threading.Event(), threading.Event()
        reader = threading.Thread(target=_read, args=(result, data / "warehouse.duckdb",
                                                      stop_reading), daemon=True)
        sender = threading.Thread(target=_send, args=(result, stop), daemon=True)
        try:
            reader.start()
            sender.start()
            time.sleep(minutes * 60)
            stop.set()
            sender.join(30)
            deadline = time.monotonic() + 180  # the last deliveries still arrive
            while len(result.seen_at) < len(result.acked_at) and time.monotonic() < deadline:
                time.sleep(1)
        finally:
            stop.set()
            stop_reading.set()
            up.terminate()
            up.wait(120)
    return result


def markdown(result: Freshness) -> str:
    latencies = result.latencies
    unseen = len(result.acked_at) - len(latencies)
    if not latencies:
        return "no delivery became visible"
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
    return "\n".join([
        f"`osvi up`, {result.history:,} deliveries of history, {result.rate:.0f} deliveries/s "
        f"for {result.minutes:g} min, OSVI_SENSOR_INTERVAL_SECONDS={result.sensor_interval}, "
        f"set-up (history landed and built) {result.setup_seconds:.0f} s.",
        "",
        "| acknowledged | visible | p50 s | p95 s | max s | publications seen |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {len(result.acked_at):,} | {len(latencies):,} (never: {unseen}) | "
        f"{statistics.median(latencies):.1f} | {p95:.1f} | {latencies[-1]:.1f} | "
        f"{result.publications} |",
    ])
