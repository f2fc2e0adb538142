"""Ingest benchmark: stored deliveries/s and latency at 32 connections, against two peers.

In one run, on loopback, with wrk as the load generator (C, not the bottleneck):
- `osvi serve`: this endpoint (group commit, fsync before every 200);
- bare: FastAPI that only parses the JSON (an upper bound: stores nothing);
- naive: FastAPI writing one Parquet file with fsync per request.
Every server runs under the same uvicorn settings (1 worker, uvloop, httptools, no access log).
After each run the landing is counted: stored rows must equal wrk's 2xx responses.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TOKEN = "bench-token-0123456789"
SAMPLE = (ROOT / "osvi_cli" / "osvi_sample.json").read_text(encoding="utf-8").strip()


@dataclass
class Result:
    name: str
    requests_per_s: float
    stored_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    stored: int
    responses_2xx: int


def _ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False,
                       stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("the ingest benchmark needs wrk: apt-get install wrk")
    return found


def _lua_script(directory: Path) -> Path:
    body = SAMPLE.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    script = directory / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = "{body}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {TOKEN}"\n',
        encoding="utf-8",
    )
    return script


def _start(command: list[str], env: dict[str, str], port: int, log: Path
           ) -> subprocess.Popen[bytes]:
    with open(log, "wb") as handle:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=handle,
                                   stderr=subprocess.STDOUT, cwd=ROOT)
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=0.5)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{command} did not start: {log.read_text()[-1000:]}")


def _uvicorn(app: str, port: int) -> list[str]:
    return [str(BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log", "--log-level", "warning", "--loop", "uvloop", "--http", "httptools"]


def _parse_wrk(output: str) -> tuple[float, float, float, int, int]:
    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        assert match, output
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    total = int(re.search(r"(\d+) requests in", output)[1])  # type: ignore[index]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    non_2xx_match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    non_2xx = int(non_2xx_match[1]) if non_2xx_match else 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    failed = sum(int(n) for n in errors.groups()) if errors else 0
    return rate, latency("50"), latency("99"), non_2xx, total - non_2xx - failed


def _count_rows(directory: Path) -> int:
    return sum(pq.read_metadata(f).num_rows for f in directory.rglob("*.parquet"))


def run(duration: int = 15, connections: int = 32) -> list[Result]:
    wrk = _ensure_wrk()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="osvi-bench-") as tmp:
        work = Path(tmp)
        script = _lua_script(work)
        servers = {
            "osvi serve (this endpoint)": (
                [str(BIN / "osvi"), "serve", "--port", "{port}"],
                {"OSVI_DATA_DIR": str(work / "osvi"), "OSVI_INGEST_TOKEN": TOKEN},
                work / "osvi" / "landing"),
            "bare FastAPI (parse only)": (_uvicorn("benchmarks.peers.bare_app:app", 0), {}, None),
            "naive (Parquet + fsync per request)": (
                _uvicorn("benchmarks.peers.naive_app:app", 0),
                {"NAIVE_LANDING": str(work / "naive")}, work / "naive"),
        }
        for name, (command, env, landing) in servers.items():
            port = 18_400 + len(results)
            command = [part.replace("{port}", str(port)) for part in command]
            if "--port" in command and command[command.index("--port") + 1] == "0":
                command[command.index("--port") + 1] = str(port)
            server = _start(command, env, port, work / f"server-{len(results)}.log")
            try:
                subprocess.run([wrk, "-t2", f"-c{connections}", "-d2s", "-s", str(script),
                                f"http://127.0.0.1:{port}/webhooks/crm"],
                               capture_output=True, check=True)  # warm-up, not measured
                time.sleep(2.5)  # the warm-up's journal reaches landing before counting
                warm = _count_rows(landing) if landing else 0
                output = subprocess.run(
                    [wrk, "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s",
                     str(script), f"http://127.0.0.1:{port}/webhooks/crm"],
                    capture_output=True, text=True, check=True).stdout
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(60)
            rate, p50, p99, non_2xx, ok = _parse_wrk(output)
            stored = _count_rows(landing) - warm if landing else 0
            results.append(Result(name, rate, stored / duration if landing else 0.0, p50, p99,
                                  non_2xx, stored, ok))
    return results


def markdown(results: list[Result], duration: int, connections: int) -> str:
    bare = next(r for r in results if r.name.startswith("bare"))
    lines = [
        f"wrk, {connections} connections, 2 threads, {duration} s per server, the OSVI sample "
        "payload (766 bytes), 1 uvicorn worker each, one run on this machine (2 cores).",
        "",
        "| endpoint | requests/s | stored/s | vs bare | p50 ms | p99 ms | non-2xx | "
        "2xx answered | rows stored |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        stored = f"{r.stored_per_s:,.0f}" if r.stored else "n/a (stores nothing)"
        lines.append(
            f"| {r.name} | {r.requests_per_s:,.0f} | {stored} | "
            f"{r.requests_per_s / bare.requests_per_s:.2f}x | {r.p50_ms:.1f} | {r.p99_ms:.1f} | "
            f"{r.non_2xx} | {r.responses_2xx:,} | {r.stored:,} |")
    return "\n".join(lines)
