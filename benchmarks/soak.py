"""Soak: a steady load at about half the measured peak through the real server for
`minutes`, while the warehouse is refreshed every minute for today (what the landing sensor
launches). Reports the rate held, latency, the server's memory over time, landing files, and
what each refresh costs."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.ingest import BIN, TOKEN, _ensure_wrk, _lua_script, _start

PORT = 18_470


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
        server = _start([str(BIN / "osvi"), "serve", "--port", str(PORT)], env, PORT,
                        work / "serve.log")
        result = SoakResult(minutes, connections * 1000 / delay_ms, 0, 0, 0)
        stop = threading.Event()

        def refresh_every_minute() -> None:
            while not stop.wait(60):
                started = time.perf_counter()
                subprocess.run([str(BIN / "osvi"), "materialize", "--date",
                                dt.datetime.now(dt.UTC).date().isoformat()],
                               env={**os.environ, **env}, capture_output=True, check=False)
                result.refresh_seconds.append(time.perf_counter() - started)

        def sample_memory() -> None:
            while not stop.wait(10):
                result.rss_mb.append(_rss_mb(server.pid))

        helpers = [threading.Thread(target=refresh_every_minute, daemon=True),
                   threading.Thread(target=sample_memory, daemon=True)]
        for helper in helpers:
            helper.start()
        try:
            output = subprocess.run(
                [wrk, "-t2", f"-c{connections}", f"-d{int(minutes * 60)}s", "--latency", "-s",
                 str(script), f"http://127.0.0.1:{PORT}/webhooks/crm"],
                capture_output=True, text=True, check=True).stdout
        finally:
            stop.set()
            server.send_signal(signal.SIGTERM)
            server.wait(60)
        for label, attribute in (("50", "p50_ms"), ("99", "p99_ms")):
            match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
            if match:
                value = float(match[1]) * {"us": 0.001, "ms": 1, "s": 1000}[match[2]]
                setattr(result, attribute, value)
        files = list((data / "landing").glob("received_date=*/*.parquet"))
        result.landing_files = len(files)
        import pyarrow.parquet as pq

        result.stored = sum(pq.read_metadata(f).num_rows for f in files)
    return result


def markdown(result: SoakResult) -> str:
    seconds = result.minutes * 60
    rss = result.rss_mb or [0.0]
    refresh = result.refresh_seconds or [0.0]
    return "\n".join([
        f"{result.minutes:g} minutes, 32 connections each pausing 12 ms after each answer "
        f"(at most ~{result.target_rate:,.0f}/s offered), `osvi materialize --date today` "
        "every minute.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| stored deliveries/s held | {result.stored / seconds:,.0f} |",
        f"| p50 / p99 latency | {result.p50_ms:.1f} ms / {result.p99_ms:.1f} ms |",
        f"| server RSS first / last / max sample | {rss[0]:.0f} / {rss[-1]:.0f} / "
        f"{max(rss):.0f} MB |",
        f"| landing files written / per day at this rate | {result.landing_files:,} / "
        f"{result.landing_files / seconds * 86400:,.0f} |",
        f"| refresh of today: first / last | {refresh[0]:.1f} s / {refresh[-1]:.1f} s "
        f"({len(result.refresh_seconds)} runs) |",
    ])


if __name__ == "__main__":
    found = run(float(sys.argv[1]) if len(sys.argv) > 1 else 10)
    print(markdown(found))
