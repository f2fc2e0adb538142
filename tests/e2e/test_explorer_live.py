"""The explorer under `osvi up` (what `make run` starts): an open page shows the calls of new
deliveries as each publication lands, without being reloaded."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from osvi_testkit.processes import OSVI, free_port, stop_group, wait_until
from tests.support.browser import chromium
from tests.support.config import SAMPLE_FILE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
TOKEN = "live-explorer-token-1"


def post(port: int, call_id: str) -> None:
    body = json.loads(SAMPLE_FILE.read_bytes())
    body["call_log_id"] = call_id
    body["call_trigger_data"] = {"campaign": "Live Campaign"}
    answer = httpx.post(f"http://127.0.0.1:{port}/webhooks/crm", json=body,
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 200, answer.text


def test_an_open_page_follows_new_deliveries_without_a_reload(tmp_path: Path) -> None:
    port, dagster_port, explorer_port = free_port(), free_port(), free_port()
    log = tmp_path / "up.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("OSVI_")}
    env.update({"OSVI_DATA_DIR": str(tmp_path / "data"), "OSVI_INGEST_TOKEN": TOKEN,
                "OSVI_TIMEZONE": "UTC"})
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(OSVI), "up", "--port", str(port), "--dagster-port", str(dagster_port),
             "--explorer-port", str(explorer_port)], env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    explorer = f"http://127.0.0.1:{explorer_port}"
    try:
        wait_until("the explorer and the ingest API", lambda: httpx.get(
            f"{explorer}/healthz", timeout=2).status_code == 200 and httpx.get(
            f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200,
            timeout=120, process=process, log=log, interval=1)
        assert f"Campaign explorer on {explorer}" in log.read_text()
        with chromium("the live page needs a real browser") as browser:
            page = browser.new_page()
            page.goto(f"{explorer}/", wait_until="networkidle")
            assert "Nothing is published yet" in page.content()
            page.evaluate("window.__sameDocument = 'kept'")
            for index in range(3):
                post(port, f"live-{index}")
            tile = page.locator('[data-metric="calls"]')

            def shows(calls: str) -> bool:  # polled from here: the CSP forbids eval in the page
                return tile.count() == 1 and tile.inner_text().strip() == calls

            wait_until("the open page to show 3 calls", lambda: shows("3"), timeout=240,
                       process=process, log=log, interval=0.5)
            for index in range(3, 5):
                post(port, f"live-{index}")
            wait_until("the open page to show 5 calls", lambda: shows("5"), timeout=240,
                       process=process, log=log, interval=0.5)
            assert page.evaluate("window.__sameDocument") == "kept", "updated, not reloaded"
            assert "Live Campaign" in page.locator("#campaigns").inner_text()
    finally:
        stop_group(process)
