"""History import benchmark: `osvi import` of N JSON Lines, against DuckDB's own JSON reader.

1. Write N simulated OSVI bodies (osvi_cli.simulate) as one JSON Lines file and a gzip copy.
2. Time the real `osvi import` command on each (a fresh data dir each time) and a re-import of
   the plain file (everything already imported: the idempotence check's cost); peak RSS of
   the command and its inspector processes, summed (shared pages counted in each).
3. Peer in the same run: DuckDB reading the same file (`read_json`, JSON Lines) and writing
   one Parquet file, the floor for "JSON Lines to Parquet" with no per-body inspection.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from osvi_cli.simulate import generate_deliveries

OSVI = Path(sys.executable).with_name("osvi")


@dataclass
class Row:
    what: str
    seconds: float
    peak_mb: float | None


def _osvi_import(data_dir: Path, source: Path) -> Row:
    """The import's time and the peak of its processes' summed RSS (it inspects bodies in a
    process per core), sampled every 0.2 s."""
    env = {**os.environ, "OSVI_DATA_DIR": str(data_dir), "OSVI_INGEST_TOKEN": "bench-token-123"}
    started = time.perf_counter()
    child = subprocess.Popen([str(OSVI), "import", str(source), "--integration", "crm"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    while child.poll() is None:
        peak = max(peak, tree_rss_mb(child.pid))
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, child.args)
    return Row(source.name, seconds, peak)


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants now (Linux /proc), in MB."""
    total, waiting = 0, [pid]
    while waiting:
        current = waiting.pop()
        try:
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                waiting += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def run(lines: int) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="osvi-import-bench-"))
    try:
        plain = work / "history.jsonl"
        with open(plain, "wb") as out:
            for delivery in generate_deliveries(lines, seed=3, retry_rate=0):
                out.write(delivery.body + b"\n")
        zipped = work / "history.jsonl.gz"
        with open(plain, "rb") as source, gzip.open(zipped, "wb", compresslevel=6) as target:
            shutil.copyfileobj(source, target)
        rows = [_osvi_import(work / "data-plain", plain)]
        again = _osvi_import(work / "data-plain", plain)
        rows.append(Row("history.jsonl again (nothing new)", again.seconds, again.peak_mb))
        rows.append(_osvi_import(work / "data-gz", zipped))
        started = time.perf_counter()
        with duckdb.connect() as con:
            con.execute("copy (select * from read_json($file, format = 'newline_delimited')) "
                        "to $out (format parquet, compression zstd)",
                        {"file": str(plain), "out": str(work / "peer.parquet")})
        rows.append(Row("peer: DuckDB read_json -> Parquet", time.perf_counter() - started, None))
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def markdown(rows: list[Row], lines: int) -> str:
    peer = rows[-1].seconds
    out = [f"`python -m benchmarks --only import --import-lines {lines}` "
           f"({lines:,} lines of simulated OSVI bodies; 2 cores)", "",
           "| input | seconds | lines/s | peak RSS | vs DuckDB read_json |",
           "|---|---:|---:|---:|---:|"]
    for row in rows:
        peak = f"{row.peak_mb:,.0f} MB" if row.peak_mb else "-"
        out.append(f"| {row.what} | {row.seconds:.1f} | {lines / row.seconds:,.0f} | {peak} "
                   f"| {row.seconds / peer:.1f}x its time |")
    return "\n".join(out)
