"""Ingest benchmark: stored deliveries/s and latency at 32 connections, against two peers.

In one run, on loopback, with wrk as the load generator (C, not the bottleneck):
- `osvi serve`: this endpoint (group commit, fsync before every 200);
- bare: FastAPI that only parses the JSON (an upper bound: stores nothing);
- naive: FastAPI writing one Parquet file with fsync per request;
- `osvi serve` with OSVI_LANDING_URL on an S3 endpoint (moto's server mode, in its own
  process on this machine): the request path is the same, publication runs beside it.
Every server runs under the same uvicorn settings (1 worker, uvloop, httptools, no access log).
After each run the landing is counted: stored rows must equal wrk's 2xx responses.

Then the backlog drain: a replica acknowledges deliveries while the store is unreachable (a
proxy dropping every connection), the store comes back, and the time until the journal is
empty gives the deliveries published per second.
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

from ingest_api.journal import journal_backlog
from osvi_testkit.processes import free_port
from osvi_testkit.s3 import DroppingProxy, S3Endpoint

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


BUCKET, PREFIX = "osvi-bench", "landing"


class _Bucket:
    """Rows in the bucket's landing objects, counted like a landing folder."""

    def __init__(self, endpoint: S3Endpoint) -> None:
        self.endpoint = endpoint

    def rows(self) -> int:
        return sum(self.endpoint.landed_delivery_ids(BUCKET, PREFIX).values())


def _moto_process(work: Path) -> tuple[subprocess.Popen[bytes], S3Endpoint]:
    port = free_port()
    with open(work / "moto.log", "wb") as log:
        process = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT)
    endpoint = S3Endpoint(f"http://127.0.0.1:{port}")
    for _ in range(100):
        try:
            endpoint.create_bucket(BUCKET)
            return process, endpoint
        except Exception:  # not listening yet
            time.sleep(0.1)
    raise RuntimeError("moto_server did not start")


def _rows(landing: Path | _Bucket | None) -> int:
    if landing is None:
        return 0
    return landing.rows() if isinstance(landing, _Bucket) else _count_rows(landing)


def run(duration: int = 15, connections: int = 32) -> tuple[list[Result], Drain]:
    wrk = _ensure_wrk()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="osvi-bench-") as tmp:
        work = Path(tmp)
        script = _lua_script(work)
        moto, endpoint = _moto_process(work)
        servers: dict[str, tuple[list[str], dict[str, str], Path | _Bucket | None]] = {
            "osvi serve (this endpoint)": (
                [str(BIN / "osvi"), "serve", "--port", "{port}"],
                {"OSVI_DATA_DIR": str(work / "osvi"), "OSVI_INGEST_TOKEN": TOKEN},
                work / "osvi" / "landing"),
            "bare FastAPI (parse only)": (_uvicorn("benchmarks.peers.bare_app:app", 0), {}, None),
            "naive (Parquet + fsync per request)": (
                _uvicorn("benchmarks.peers.naive_app:app", 0),
                {"NAIVE_LANDING": str(work / "naive")}, work / "naive"),
            "osvi serve, landing on S3 (moto)": (
                [str(BIN / "osvi"), "serve", "--port", "{port}"],
                {"OSVI_DATA_DIR": str(work / "osvi-s3"), "OSVI_INGEST_TOKEN": TOKEN,
                 "OSVI_LANDING_URL": f"s3://{BUCKET}/{PREFIX}", **endpoint.env},
                _Bucket(endpoint)),
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
                server.send_signal(signal.SIGTERM)  # the warm-up's journal reaches landing
                server.wait(60)
                warm = _rows(landing)
                server = _start(command, env, port, work / f"server-{len(results)}.log")
                output = subprocess.run(
                    [wrk, "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s",
                     str(script), f"http://127.0.0.1:{port}/webhooks/crm"],
                    capture_output=True, text=True, check=True).stdout
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(60)
            rate, p50, p99, non_2xx, ok = _parse_wrk(output)
            stored = _rows(landing) - warm
            results.append(Result(name, rate, stored / duration if landing else 0.0, p50, p99,
                                  non_2xx, stored, ok))
        try:
            drain = backlog_drain(work, endpoint)
        finally:
            moto.kill()
    return results, drain


@dataclass
class Drain:
    deliveries: int
    segments: int  # journal segments waiting when the store came back
    first_publication_s: float  # from the store's return to the first publication (backoff)
    drained: int  # deliveries published after the first publication
    seconds: float  # ...and how long they took

    @property
    def per_second(self) -> float:
        return self.drained / self.seconds


def backlog_drain(work: Path, endpoint: S3Endpoint, deliveries: int = 20_000) -> Drain:
    """Deliveries acknowledged during an outage, then published when the store returns."""
    proxy = DroppingProxy(int(endpoint.url.rsplit(":", 1)[1]))
    port = free_port()
    data_dir = work / "drain"
    journal = data_dir / "journal"
    server = _start([str(BIN / "osvi"), "serve", "--port", str(port)],
                    {"OSVI_DATA_DIR": str(data_dir), "OSVI_INGEST_TOKEN": TOKEN,
                     "OSVI_LANDING_URL": f"s3://{BUCKET}/drain", **endpoint.env,
                     # Many segments, as a long outage at the default length leaves.
                     "OSVI_JOURNAL_SEGMENT_SECONDS": "0.5",
                     "AWS_ENDPOINT_URL": proxy.url}, port, work / "drain.log")
    try:
        proxy.down()
        sent = 0
        with httpx.Client(timeout=10) as client:
            while sent < deliveries:
                response = client.post(f"http://127.0.0.1:{port}/webhooks/crm", content=SAMPLE,
                                       headers={"Authorization": f"Bearer {TOKEN}"})
                sent += response.status_code == 200
        time.sleep(1)  # the last segment closes
        waiting = journal_backlog(journal).bytes
        segments = len(list(journal.glob("*.journal")))
        proxy.up()
        returned = time.perf_counter()
        while (left := journal_backlog(journal).bytes) >= waiting:
            time.sleep(0.01)
        first = time.perf_counter()
        while journal_backlog(journal).bytes:
            time.sleep(0.01)
        seconds = time.perf_counter() - first
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        proxy.close()
    published = sum(endpoint.landed_delivery_ids(BUCKET, "drain").values())
    assert published == deliveries, (published, deliveries)
    return Drain(deliveries, segments, first - returned, round(deliveries * left / waiting),
                 seconds)


def markdown(found: tuple[list[Result], Drain], duration: int, connections: int) -> str:
    results, drain = found
    bare = next(r for r in results if r.name.startswith("bare"))
    local = next(r for r in results if r.name.startswith("osvi serve (this"))
    remote = next(r for r in results if "S3" in r.name)
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
    lines += [
        "",
        f"Landing on S3 vs local disk: {remote.requests_per_s / local.requests_per_s:.2f}x the "
        "throughput (target ≥ 0.9x).",
        "",
        f"Backlog drain: {drain.deliveries:,} deliveries acknowledged while the store was "
        f"unreachable, in {drain.segments} journal segments; the first publication "
        f"{drain.first_publication_s:.1f} s after the store returned (the retry backoff, at "
        f"most 30 s), then {drain.drained:,} deliveries in {drain.seconds:.1f} s = "
        f"**{drain.per_second:,.0f} deliveries/s** published.",
    ]
    return "\n".join(lines)
