"""Soak: a steady load at about half the measured peak for `minutes` through `osvi up`, the
real server plus `dagster dev`, whose landing sensor launches a warehouse run for today as
files land (at most one a minute, one run at a time). Reports the rate held, latency, the
server's memory over time, landing files, and what each sensor-launched run cost."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.ingest import BIN, TOKEN, _ensure_wrk, _lua_script, _start

PORT = 18_470
DAGSTER_PORT = 18_471


@dataclass
class SoakResult:
    minutes: float
    target_rate: float
    stored: int
    p50_ms: float
    p99_ms: float
    rss_mb: list[float] = field(default_factory=list)
    landing_files: int = 0
    refresh_seconds: list[float] = field(default_factory=list)
    failed_runs: int = 0
    in_warehouse: int = 0  # deliveries the last sensor run published


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status)[1]) / 1024  # type: ignore[index]


def run(minutes: float = 10, connections: int = 32, delay_ms: int = 12) -> SoakResult:
    """32 connections each waiting `delay_ms` between requests ~ 32 / (delay + latency) /s."""
    wrk = _ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="osvi-soak-") as tmp:
        work = Path(tmp)
        data = work / "data"
        script = _lua_script(work)
        script.write_text(script.read_text() + f"function delay() return {delay_ms} end\n")
        env = {"OSVI_DATA_DIR": str(data), "OSVI_INGEST_TOKEN": TOKEN, "OSVI_TIMEZONE": "UTC"}
        up = _start([str(BIN / "osvi"), "up", "--port", str(PORT), "--dagster-port",
                     str(DAGSTER_PORT)], env, PORT, work / "up.log")
        server = _serve_pid()
        result = SoakResult(minutes, connections * 1000 / delay_ms, 0, 0, 0)
        stop = threading.Event()

        def sample_memory() -> None:
            while not stop.wait(10):
                result.rss_mb.append(_rss_mb(server))

        sampler = threading.Thread(target=sample_memory, daemon=True)
        sampler.start()
        try:
            output = subprocess.run(
                [wrk, "-t2", f"-c{connections}", f"-d{int(minutes * 60)}s", "--latency", "-s",
                 str(script), f"http://127.0.0.1:{PORT}/webhooks/crm"],
                capture_output=True, text=True, check=True).stdout
        finally:
            stop.set()
            up.send_signal(signal.SIGTERM)  # a service stop: osvi up stops both servers
            up.wait(120)
        for label, attribute in (("50", "p50_ms"), ("99", "p99_ms")):
            match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
            if match:
                value = float(match[1]) * {"us": 0.001, "ms": 1, "s": 1000}[match[2]]
                setattr(result, attribute, value)
        files = list((data / "landing").glob("received_date=*/*.parquet"))
        result.landing_files = len(files)
        import pyarrow.parquet as pq

        result.stored = sum(pq.read_metadata(f).num_rows for f in files)
        result.refresh_seconds, result.failed_runs = _sensor_runs(data / "dagster")
        import duckdb

        with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
            result.in_warehouse = con.execute("select count(*) from deliveries").fetchall()[0][0]
    return result


def _serve_pid() -> int:
    """The `osvi serve` process that `osvi up` started (its memory is what must stay flat)."""
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in command and str(PORT).encode() in command:
            return int(proc.name)
    raise RuntimeError("osvi up did not start osvi serve")


def _sensor_runs(home: Path) -> tuple[list[float], int]:
    """Durations of the successful sensor-launched runs, oldest first, and failures."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home))
    records = sorted(instance.get_run_records(), key=lambda record: record.create_timestamp)
    durations = [record.end_time - record.start_time for record in records
                 if record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
                 and record.start_time and record.end_time]
    failed = sum(record.dagster_run.status == dg.DagsterRunStatus.FAILURE for record in records)
    return durations, failed


def markdown(result: SoakResult) -> str:
    seconds = result.minutes * 60
    rss = result.rss_mb or [0.0]
    refresh = result.refresh_seconds or [0.0]
    return "\n".join([
        f"{result.minutes:g} minutes, 32 connections each pausing 12 ms after each answer "
        f"(at most ~{result.target_rate:,.0f}/s offered), through `osvi up`: the landing "
        "sensor launches a run for today as files land (at most one a minute, one at a time).",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| stored deliveries/s held | {result.stored / seconds:,.0f} |",
        f"| p50 / p99 latency | {result.p50_ms:.1f} ms / {result.p99_ms:.1f} ms |",
        f"| server RSS first / last / max sample | {rss[0]:.0f} / {rss[-1]:.0f} / "
        f"{max(rss):.0f} MB |",
        f"| landing files written / per day at this rate | {result.landing_files:,} / "
        f"{result.landing_files / seconds * 86400:,.0f} |",
        f"| sensor-launched runs: first / last / max | {refresh[0]:.1f} s / "
        f"{refresh[-1]:.1f} s / {max(refresh):.1f} s ({len(result.refresh_seconds)} runs, "
        f"{result.failed_runs} failed) |",
        f"| deliveries stored / in the published warehouse after the last run | "
        f"{result.stored:,} / {result.in_warehouse:,} |",
    ])


if __name__ == "__main__":
    found = run(float(sys.argv[1]) if len(sys.argv) > 1 else 10)
    print(markdown(found))
