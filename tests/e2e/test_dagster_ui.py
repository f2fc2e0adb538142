"""`dagster dev` for real on loopback: a partition backfill launched through the GraphQL API
(what the UI's Backfill button does), and a screenshot of the asset graph."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from osvi_pipeline.runtime.instance import dagster_home
from osvi_testkit.processes import free_port, stop_group, wait_until
from tests.support.browser import chromium
from tests.support.config import CHECKOUT, make_settings
from tests.support.dagster_graphql import LAUNCH, STATUS, graphql
from tests.support.pipeline import delivery, land, query

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # dagster dev + a backfill
DAGSTER = Path(sys.executable).with_name("dagster")
ASSETS = ["deliveries", "call_attempts", "call_deliveries", "rejected_deliveries", "calls",
          "data_capture_fields", "structured_output_fields", "call_trigger_fields",
          "data_capture", "structured_output", "campaign_daily", "campaign_outcomes",
          "campaign_field_rates", "daily_summary", "warehouse_snapshot", "daily_report"]


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    tmp = Path(tmp_path_factory.mktemp("dagster-dev"))
    settings = make_settings(tmp)
    start = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    land(settings, [delivery(start + timedelta(days=day, minutes=i),
                             {"call_log_id": f"b{day}-{i}",
                              "call_trigger_data": {"campaign": f"camp {day % 2}"}})
                    for day in range(3) for i in range(day + 2)])
    port = free_port()
    env = {**os.environ, "OSVI_DATA_DIR": str(settings.data_dir),
           "OSVI_INGEST_TOKEN": "dagster-ui-test-token",
           "DAGSTER_HOME": str(dagster_home(settings))}
    log = open(tmp / "dagster.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen([str(DAGSTER), "dev", "-m", "osvi_pipeline.definitions",
                                "-h", "127.0.0.1", "-p", str(port)], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until("dagster dev", lambda: httpx.get(f"{url}/server_info",
                                                    timeout=2).status_code == 200,
                   timeout=120, process=process, log=tmp / "dagster.log", interval=1)
        yield url, settings
    finally:
        stop_group(process, timeout=30)
        log.close()


def test_a_partition_backfill_from_the_graphql_api(dagster_dev: tuple[str, Any]) -> None:
    url, settings = dagster_dev
    params = {"partitionNames": ["2026-11-26", "2026-11-27", "2026-11-28"],
              "assetSelection": [{"path": [name]} for name in ASSETS], "fromFailure": False}
    launched = graphql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    deadline = time.monotonic() + 400
    status = None
    while time.monotonic() < deadline:
        status = graphql(url, STATUS, {"id": launched["backfillId"]})[
            "partitionBackfillOrError"]
        if status.get("status") in ("COMPLETED", "COMPLETED_SUCCESS", "FAILED", "CANCELED",
                                    "COMPLETED_FAILED"):
            break
        time.sleep(2)
    assert status is not None and status.get("status") in ("COMPLETED", "COMPLETED_SUCCESS"), \
        status
    assert query(settings, "select call_date::varchar, campaign, calls from campaign_daily "
                           "order by 1") == [("2026-11-26", "camp 0", 2),
                                             ("2026-11-27", "camp 1", 3),
                                             ("2026-11-28", "camp 0", 4)]


def test_screenshot_of_the_asset_graph(dagster_dev: tuple[str, Any], tmp_path: Path) -> None:
    url, _ = dagster_dev
    target = tmp_path / "asset-graph.png"
    with chromium("no screenshot of the asset graph taken") as browser:
        page = browser.new_page(viewport={"width": 1800, "height": 1100})
        page.goto(f"{url}/assets/calls?view=lineage&lineageScope=neighbors&lineageDepth=4",
                  wait_until="networkidle")
        skip = page.get_by_role("button", name="Skip")  # Dagster's first-visit dialog
        if skip.count():
            skip.click()
        for asset in ("deliveries", "calls", "daily_report"):
            page.get_by_text(asset, exact=True).first.wait_for(timeout=30_000)
        page.screenshot(path=str(target))
    assert target.stat().st_size > 50_000, "an empty page, not the graph"
    if os.environ.get("OSVI_UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(target, CHECKOUT / "docs" / "asset-graph.png")
