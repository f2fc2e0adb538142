"""Pipeline benchmark: landing -> every warehouse table, against dlt and pandas.

1. Generate N realistic deliveries (osvi_cli.simulate: 20 campaigns, four agents with different
   extraction fields, a conditional Output Schema, 5% manual retries) over `days` days, and
   land them through the real journal and landing writer.
2. Time `materialize_days` over all days in a child process (peak RSS measured there).
3. Time the daily incremental run: one more day after the whole history, the same size of day
   after a one-day history (it must not cost more with more history), and a tenth of a day.
4. The first run again at a quarter and at twice N: peak memory must not grow with N.
5. Load the same payloads with dlt into DuckDB (merge on call_log_id, Parquet loader, its
   fastest setting, payloads streamed from a generator) and flatten them with
   pandas.json_normalize, each in a child process: once at the same N as ours (rates compared
   at unequal N flatter whoever ran larger: dlt's fixed ~3.5 s start-up is half its time at
   30,000 payloads), and on a small prefix, the median of three (`--peer-small`), to show it.
"vs dlt" is against dlt's best rate in the run.
"""

from __future__ import annotations

import os
import resource  # noqa: F401  (used by the child code)
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ingest_api.journal import DurableLanding
from osvi_cli.simulate import generate_deliveries
from osvi_core.body import inspect_body
from osvi_core.landing import LandingRow

DAY_US = 86_400_000_000
START = datetime(2026, 10, 1, tzinfo=UTC)


@dataclass
class Measure:
    name: str
    payloads: int
    seconds: float
    peak_mb: float

    @property
    def rate(self) -> float:
        return self.payloads / self.seconds


def generate(landing: Path, payloads_file: Path, deliveries: int, days: int,
             first_day: int = 0, start: datetime = START) -> None:
    """Land `deliveries` spread evenly over `days` days; keep the bodies for the peers."""
    store = DurableLanding.for_folder(landing, segment_rows=50_000)
    start_us = int(start.timestamp() * 1e6) + first_day * DAY_US
    step = days * DAY_US // deliveries
    batch: list[LandingRow] = []
    with open(payloads_file, "ab") as bodies:
        source = generate_deliveries(deliveries, seed=first_day + 1)
        for index in range(deliveries):
            item = next(source)
            inspected = inspect_body(item.body, "POST")
            batch.append(LandingRow(f"{first_day}-{index}", start_us + index * step,
                                    item.integration, "POST", f"/webhooks/{item.integration}",
                                    None, "{}", inspected.text, inspected.sha256,
                                    inspected.call_log_id, None))
            bodies.write(item.body + b"\n")
            if len(batch) == 10_000:
                store.append(batch)
                batch = []
        if batch:
            store.append(batch)
    store.drain()


def materialize_history(data: Path, days: int, hidden: tuple[str, ...] = ()
                        ) -> tuple[dict[str, str], date, date]:
    """`osvi materialize` over the `days` days generate() landed under `data` (from START);
    returns the environment it ran with (no OSVI_* or `hidden` variables of this process) and
    the first and last day."""
    first, last = START.date(), START.date() + timedelta(days=days - 1)
    env = {**{key: value for key, value in os.environ.items()
              if not key.startswith(("OSVI_", *hidden))},
           "OSVI_DATA_DIR": str(data), "OSVI_TIMEZONE": "UTC", "OSVI_FIRST_DAY": first.isoformat()}
    subprocess.run([str(Path(sys.executable).with_name("osvi")), "materialize", "--start",
                    first.isoformat(), "--end", last.isoformat()], env=env, check=True,
                   capture_output=True)
    return env, first, last


_PEAK = "\nimport resource\nprint('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"


def _child(code: str, env: dict[str, str]) -> tuple[float, float, str]:
    """Run Python code in a child; return (seconds, its peak RSS in MB, stdout)."""
    os.sync()  # the files just generated are flushed now, not during the timed run
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code + _PEAK], env={**os.environ, **env},
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    peak_kb = int(done.stdout.rsplit("PEAK_KB", 1)[1].split()[0])
    return seconds, peak_kb / 1024, done.stdout


_OURS = """
import datetime as dt, warnings
from osvi_core.settings import load_settings
from osvi_pipeline.runtime.materialize import materialize_days
run = materialize_days(load_settings(), dt.date.fromisoformat("{start}"),
                       dt.date.fromisoformat("{end}"))
assert run.success
"""

# The write floor: the same tables copied from the finished warehouse into a new file, each
# created from its own DDL (so column compression is the same) and filled with INSERT ... SELECT *
# (no parsing, no flattening, no Dagster), in the same storage format. No pipeline writing these
# tables can be faster on this machine, whatever it computes.
_FLOOR = """
import duckdb
from osvi_core.settings import load_settings
con = duckdb.connect("{floor}", config={{"memory_limit": "1GB",
                                        "preserve_insertion_order": False,
                                        "storage_compatibility_version":
                                            load_settings().duckdb_storage_version}})
con.execute("attach '{working}' as finished (read_only)")
tables = con.execute("select schema_name, table_name, sql from duckdb_tables() "
                     "where database_name = 'finished'").fetchall()
for schema, table, ddl in tables:
    name = f'"{{schema}}"."{{table}}"'
    con.execute(f'create schema if not exists "{{schema}}"')
    con.execute(f'set schema = "{{schema}}"')  # the DDL names the table without its schema
    con.execute(ddl)
    con.execute(f"insert into {{name}} select * from finished.{{name}}")
con.execute("checkpoint")
"""

# dlt takes the payloads as a generator, as its docs load a stream: at 1M that is faster and
# peaks at 0.8 GB where a list peaked at 3.9 GB.
_DLT = """
import dlt, itertools, json
rows = (json.loads(line) for line in itertools.islice(open("{payloads}", "rb"), {limit}))
pipeline = dlt.pipeline(pipeline_name="osvi_bench", destination=dlt.destinations.duckdb("{db}"),
                        dataset_name="osvi", pipelines_dir="{work}")
info = pipeline.run(rows, table_name="calls", write_disposition="merge",
                    primary_key="call_log_id", loader_file_format="parquet")
print(info)
"""

_PANDAS = """
import itertools, json, duckdb, pandas as pd
rows = [json.loads(line) for line in itertools.islice(open("{payloads}", "rb"), {limit})]
frame = pd.json_normalize(rows, sep="__")
con = duckdb.connect("{db}")
con.execute("create or replace table calls as select * from frame")
"""


def run(deliveries: int = 1_000_000, days: int = 7, peer_payloads: int | None = None,
        peer_small: int = 30_000) -> list[Measure]:
    with tempfile.TemporaryDirectory(prefix="osvi-pipeline-bench-") as tmp:
        work = Path(tmp)
        data = work / "data"
        payloads = work / "payloads.ndjson"
        generate(data / "landing", payloads, deliveries, days)
        first = START.date()
        daily = max(deliveries // days, 1)
        results = [_ours(f"osvi-pipeline, all tables ({days} days, first run)", data, first,
                         days, deliveries)]
        seconds, peak, _ = _child(_FLOOR.format(floor=work / "floor.duckdb",
                                                working=data / "pipeline" / "warehouse.duckdb"),
                                  {})
        results.append(Measure("write floor: the finished tables copied (their DDL, INSERT "
                               "SELECT *, nothing computed)", deliveries, seconds, peak))
        # The peers right after, so the ratios are read under the same load of this machine.
        results.extend(_peers(work, payloads, min(peer_payloads or deliveries, deliveries),
                              repeats=1))
        results.extend(_peers(work, payloads, min(peer_small, deliveries), repeats=3))
        # The daily run: one more day after the full history...
        generate(data / "landing", work / "extra.ndjson", daily, 1, first_day=days)
        results.append(_ours(f"one more day, incremental, after {days} days of history", data,
                             first + timedelta(days=days), 1, daily))
        # ...costs what the same day costs after a one-day history (not more with history)...
        short = work / "short"
        generate(short / "landing", work / "short.ndjson", daily, 1)
        _ours("one day, first run", short, first, 1, daily)
        generate(short / "landing", work / "short-extra.ndjson", daily, 1, first_day=1)
        results.append(_ours("one more day, incremental, after 1 day of history", short,
                             first + timedelta(days=1), 1, daily))
        # ...and falls with the day's size (down to the fixed cost of two Dagster runs).
        tenth = max(daily // 10, 1)
        generate(data / "landing", work / "tenth.ndjson", tenth, 1, first_day=days + 1)
        results.append(_ours(f"a tenth of a day, incremental, after {days + 1} days", data,
                             first + timedelta(days=days + 1), 1, tenth))
        # Peak memory must not grow with N: the same first run at a quarter and at twice N.
        for scale, label in ((deliveries // 4, "a quarter of"), (deliveries * 2, "twice")):
            scaled = work / f"scaled-{scale}"
            generate(scaled / "landing", work / f"scaled-{scale}.ndjson", scale, days)
            results.append(_ours(f"first run again, {label} N (peak memory by N)", scaled, first,
                                 days, scale))
            shutil.rmtree(scaled)
    return results


def _peers(work: Path, payloads: Path, limit: int, repeats: int) -> list[Measure]:
    """dlt and pandas on the first `limit` payloads, each the median of `repeats` runs from an
    empty destination."""
    measures = []
    for name, code in (("dlt 1.x, merge on call_log_id, parquet loader", _DLT),
                       ("pandas json_normalize -> DuckDB", _PANDAS)):
        seconds_and_peaks = []
        for attempt in range(repeats):
            fresh = work / f"{name[:4]}-{limit}-{attempt}"
            fresh.mkdir()
            seconds, peak, _ = _child(code.format(payloads=payloads, limit=limit,
                                                  db=fresh / "peer.duckdb", work=fresh), {})
            seconds_and_peaks.append((seconds, peak))
            shutil.rmtree(fresh)
        seconds = statistics.median(seconds for seconds, _ in seconds_and_peaks)
        peak = max(peak for _, peak in seconds_and_peaks)
        runs = f"median of {repeats}" if repeats > 1 else "one run"
        measures.append(Measure(f"{name} ({runs})", limit, seconds, peak))
    return measures


def _ours(name: str, data: Path, first: date, days: int, payloads: int) -> Measure:
    """Materialize `days` days from `first` on the data dir, in a child process."""
    env = {"OSVI_DATA_DIR": str(data), "OSVI_TIMEZONE": "UTC"}
    last = first + timedelta(days=days - 1)
    seconds, peak, _ = _child(_OURS.format(start=first, end=last), env)
    return Measure(name, payloads, seconds, peak)


def markdown(results: list[Measure], deliveries: int) -> str:
    dlt_rate = max(r.rate for r in results if r.name.startswith("dlt"))  # dlt's best
    lines = [
        f"{deliveries:,} generated deliveries (20 campaigns, 4 agents, conditional output, 5% "
        "retries), one run on this machine (2 cores). Peak memory is the child process's "
        "maximum RSS.",
        "",
        "| run | payloads | seconds | payloads/s | vs dlt | peak MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r.name} | {r.payloads:,} | {r.seconds:.1f} | {r.rate:,.0f} | "
                     f"{r.rate / dlt_rate:.1f}x | {r.peak_mb:,.0f} |")
    return "\n".join(lines)
