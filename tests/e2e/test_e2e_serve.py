"""`osvi serve` as a real process: kill -9 under load, restart, graceful SIGTERM.

The promise: every delivery that got a 2xx is in the landing Parquet afterwards, and no
partial file is ever visible as data.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from osvi_testkit.processes import served
from tests.support.landing import read_landing
from tests.support.load import LoadGenerator

TOKEN = "e2e-token-abcdefgh"
pytestmark = pytest.mark.slow


def test_kill_minus_9_under_load_loses_no_acknowledged_delivery(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with served(data_dir, TOKEN, tmp_path / "serve.log") as server:
        load = LoadGenerator([server.url], TOKEN)
        load.start()
        try:
            for _ in range(3):  # three crashes within a few seconds, restarting each time
                load.wait_for_acks(load.acked_count() + 150)
                assert server.kill(signal.SIGKILL) == -signal.SIGKILL
                server.start()
            load.wait_for_acks(load.acked_count() + 150)
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
    missing = set(load.acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged deliveries lost"
    assert len(stored) == len(set(stored)), "a delivery id was stored twice"
    assert not list((data_dir / "landing").rglob("*.tmp")), "temp files left in landing"
    assert not list((data_dir / "landing").rglob("*.journal")), "journal not fully published"
    assert set(load.statuses) - {"200"}, "the load never saw the server down"
