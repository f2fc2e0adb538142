"""`osvi serve` as a real process: kill -9 under load, restart, graceful SIGTERM.

The promise: every delivery that got a 2xx is in the landing Parquet afterwards, and no
partial file is ever visible as data.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import orjson
import pyarrow.parquet as pq
import pytest

from ingest_api.landing import read_landing
from tests.support.processes import served

TOKEN = "e2e-token-abcdefgh"
pytestmark = pytest.mark.slow


class LoadGenerator:
    """Bounded loopback load from several threads; remembers every acknowledged delivery."""

    def __init__(self, url: str, threads: int = 12) -> None:
        self.url = url
        self.threads = threads
        self.acked: set[str] = set()
        self.statuses: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._sent = 0

    def _work(self, worker: int) -> None:
        with httpx.Client(timeout=5) as client:
            sequence = 0
            while not self._stop.is_set() and sequence < 5_000:
                sequence += 1
                body = orjson.dumps({"call_log_id": f"w{worker}-{sequence}",
                                     "data_capture": {"n": sequence}})
                try:
                    response = client.post(f"{self.url}/webhooks/crm", content=body,
                                           headers={"Authorization": f"Bearer {TOKEN}"})
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                    time.sleep(0.02)  # the server is down; OSVI would record a failure
                else:
                    key = str(response.status_code)
                    if response.status_code == 200:
                        with self._lock:
                            self.acked.add(str(response.json()["delivery_id"]))
                with self._lock:
                    self.statuses[key] = self.statuses.get(key, 0) + 1

    def start(self) -> None:
        self._workers = [threading.Thread(target=self._work, args=(i,), daemon=True)
                         for i in range(self.threads)]
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(30)


def _acked_count(load: LoadGenerator) -> int:
    with load._lock:
        return len(load.acked)


def _wait_for_acks(load: LoadGenerator, at_least: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while _acked_count(load) < at_least and time.monotonic() < deadline:
        time.sleep(0.02)


def test_kill_minus_9_under_load_loses_no_acknowledged_delivery(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with served(data_dir, TOKEN, tmp_path / "serve.log") as server:
        load = LoadGenerator(server.url)
        load.start()
        try:
            for _ in range(3):  # three crashes within a few seconds, restarting each time
                _wait_for_acks(load, _acked_count(load) + 150)
                assert server.kill(signal.SIGKILL) == -signal.SIGKILL
                server.start()
            _wait_for_acks(load, _acked_count(load) + 150)
            # uvicorn re-raises SIGTERM after its graceful shutdown, hence -15.
            assert server.kill(signal.SIGTERM) in (0, -signal.SIGTERM)
            assert "Application shutdown complete" in server.log.read_text()
        finally:
            load.stop()
        server.start()  # a last start cleans what the crashes left
        server.kill(signal.SIGTERM)

    assert len(load.acked) >= 600, load.statuses
    files = sorted((data_dir / "landing").glob("received_date=*/*.parquet"))
    for file in files:
        pq.read_metadata(file)  # every visible file is complete
    stored = read_landing(data_dir / "landing").column("delivery_id").to_pylist()
    missing = load.acked - set(stored)
    assert not missing, f"{len(missing)} acknowledged deliveries lost"
    assert len(stored) == len(set(stored)), "a delivery id was stored twice"
    assert not list((data_dir / "landing").rglob("*.tmp")), "temp files left in landing"
    assert not list((data_dir / "landing").rglob("*.journal")), "journal not fully published"
    assert set(load.statuses) - {"200"}, "the load never saw the server down"
