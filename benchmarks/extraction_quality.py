"""What extraction quality (issue 28) adds to a micro-batch at 1,000,000 calls of history.

`python -m benchmarks --only quality`: lands N deliveries over `DAYS` days (benchmarks/
pipeline.py's generator: four agents, a conditional Output Schema), runs `osvi materialize`,
then alternates micro-batches of `BATCH` new deliveries on the last day, each the landing
sensor's run (only new files, landing_job's selection) in-process, with and without the
issue's parts: agent_call_days, agent_field_days, campaign_fill_rates, schema_changes,
contract_violations (a
frozen contract on one integration, so it has work) and extraction_alerts (a local json://
receiver). campaign_flags runs in both; its fill-rate tests are timed apart, with the same
connection, with and without them (FILL_RATES). Reported: medians of `TRIALS` runs each.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb

import osvi_pipeline.warehouse.campaign_flags as flags_module
from benchmarks.pipeline import DAY_US, START, generate, materialize_history
from ingest_api.journal import DurableLanding
from osvi_cli.simulate import generate_deliveries
from osvi_core.body import inspect_body
from osvi_core.landing import LandingRow
from osvi_core.settings import Settings
from osvi_pipeline.definitions import build_assets
from osvi_pipeline.defs.jobs import CHEAP_CHECKS
from osvi_pipeline.defs.resources import build_resources
from osvi_pipeline.defs.tags import LOAD_TAG, NEW_FILES
from osvi_pipeline.lib.flag_stats import FlagRules
from osvi_pipeline.runtime.materialize import QUIET

OSVI = Path(sys.executable).with_name("osvi")
DAYS, BATCH, TRIALS = 20, 300, 7
QUALITY = ["agent_call_days", "agent_field_days", "campaign_fill_rates", "schema_changes",
           "contract_violations", "extraction_alerts"]


@dataclass(frozen=True)
class QualityResult:
    calls: int
    with_seconds: float  # median micro-batch, everything
    without_seconds: float  # median micro-batch without QUALITY
    fill_rate_seconds: float  # median share of campaign_flags spent on fill rates

    @property
    def added(self) -> float:
        return self.with_seconds - self.without_seconds + self.fill_rate_seconds


def _land_batch(landing: Path, seed: int) -> None:
    """BATCH new calls spread over the last minutes of the last day."""
    store = DurableLanding.for_folder(landing)
    end_us = int(START.timestamp() * 1e6) + DAYS * DAY_US - 60_000_000
    rows = []
    for index, item in enumerate(generate_deliveries(BATCH, seed=10_000 + seed)):
        inspected = inspect_body(item.body, "POST")
        rows.append(LandingRow(f"batch{seed}-{index}", end_us - (BATCH - index) * 100_000,
                               item.integration, "POST", f"/webhooks/{item.integration}",
                               None, "{}", inspected.text, inspected.sha256,
                               inspected.call_log_id, None))
    store.append(rows)
    store.drain()


def _receiver() -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def _fill_rate_share(warehouse: Path) -> float:
    """campaign_flags with its fill-rate tests minus without them, one pair."""
    with duckdb.connect(str(warehouse)) as con:
        forget = "delete from osvi_state.models where model = 'campaign_flags'"  # every day
        con.execute(forget)
        started = time.perf_counter()
        flags_module.build_campaign_flags(con, FlagRules())
        with_fill = time.perf_counter() - started
        saved, flags_module.FILL_RATES = flags_module.FILL_RATES, "select 1 where false"
        try:
            con.execute(forget)
            started = time.perf_counter()
            flags_module.build_campaign_flags(con, FlagRules())
            without_fill = time.perf_counter() - started
        finally:
            flags_module.FILL_RATES = saved
    return with_fill - without_fill


def run(deliveries: int = 1_000_000) -> QualityResult:
    server, port = _receiver()
    with tempfile.TemporaryDirectory(prefix="osvi-bench-quality-") as tmp:
        work = Path(tmp)
        data = work / "data"
        generate(data / "landing", work / "payloads.ndjson", deliveries, DAYS)
        integrations = data / "integrations.yaml"
        data.mkdir(exist_ok=True)
        integrations.write_text(  # crm carries every agent's calls: the most to check
            "integrations:\n  - name: crm\n    tokens: [\"bench-token-123\"]\n"
            "    contract: {data_capture: freeze}\n"
            "  - name: sheet\n    tokens: [\"bench-token-456\"]\n", encoding="utf-8")
        _, first, last = materialize_history(data, DAYS)
        settings = Settings(data_dir=data, timezone="UTC", first_day=first,
                            notify_urls=f"json://127.0.0.1:{port}/alerts")
        assets = build_assets(settings, first)
        resources = build_resources(settings)
        everything = dg.AssetSelection.all().without_checks() | dg.AssetSelection.checks(
            *CHEAP_CHECKS)
        variants = {"with": everything,
                    "without": everything - dg.AssetSelection.assets(*QUALITY)}
        times: dict[str, list[float]] = {"with": [], "without": []}
        fill: list[float] = []
        for trial in range(TRIALS):
            order = ["with", "without"] if trial % 2 == 0 else ["without", "with"]
            for position, variant in enumerate(order):
                _land_batch(data / "landing", seed=2 * trial + position)
                started = time.perf_counter()
                result = dg.materialize(
                    assets, selection=variants[variant], resources=resources,
                    run_config=QUIET, raise_on_error=True,
                    tags={"dagster/partition": last.isoformat(), LOAD_TAG: NEW_FILES})
                times[variant].append(time.perf_counter() - started)
                assert result.success
            fill.append(_fill_rate_share(settings.layout.pipeline_warehouse_path))
        with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
            calls = int(con.execute("select count(*) from calls").fetchall()[0][0])
    server.shutdown()
    return QualityResult(calls, statistics.median(times["with"]),
                         statistics.median(times["without"]), statistics.median(fill))


def markdown(result: QualityResult) -> str:
    return "\n".join([
        "| calls of history | micro-batch without (median) | with (median) | of which fill "
        "rates in campaign_flags | added | target |",
        "|---:|---:|---:|---:|---:|---|",
        f"| {result.calls:,} | {result.without_seconds:.2f} s | {result.with_seconds:.2f} s | "
        f"{result.fill_rate_seconds:.3f} s | **{result.added:.2f} s** | ≤ 0.3 s |"])
