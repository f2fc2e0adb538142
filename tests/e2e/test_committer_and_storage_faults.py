"""Group commit under pressure, and a filesystem that really fills up."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson
import pytest

from ingest_api.committer import GroupCommitter, StoreUnavailable
from ingest_api.journal import DurableLanding
from osvi_core.landing import LandingRow
from tests.support.config import AUTH, make_settings, running_app
from tests.support.landing import read_landing


def _row(index: int) -> LandingRow:
    return LandingRow(f"d{index}", time.time_ns() // 1000, "crm", "POST", "/webhooks/crm",
                      None, "{}", "{}", None, None, None)


def test_full_queue_answers_unavailable_and_shutdown_flushes_the_rest(tmp_path: Path) -> None:
    gate = threading.Event()
    landing = DurableLanding.for_folder(tmp_path / "landing")

    def slow_write(rows: Sequence[LandingRow]) -> None:
        gate.wait(10)  # the disk is slow: the first batch holds the writer
        landing.append(rows)

    async def scenario() -> tuple[list[object], int]:
        committer = GroupCommitter(slow_write, max_rows=2, max_wait=0.001, max_queue=3)
        committer.start()
        first = asyncio.create_task(committer.submit(_row(0)))
        await asyncio.sleep(0.05)  # row 0 is being written; the queue is empty again
        queued = [asyncio.create_task(committer.submit(_row(i))) for i in (1, 2, 3)]
        await asyncio.sleep(0.01)
        with pytest.raises(StoreUnavailable, match="too many deliveries"):
            await committer.submit(_row(4))
        gate.set()
        await committer.close()  # graceful shutdown: everything queued is flushed
        results = await asyncio.gather(first, *queued, return_exceptions=True)
        landing.drain()
        return results, committer.depth

    results, depth = asyncio.run(scenario())
    assert results == [None, None, None, None] and depth == 0
    assert sorted(read_landing(tmp_path / "landing").column("delivery_id").to_pylist()) == [
        "d0", "d1", "d2", "d3"]


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); "
                    "test_unwritable_landing_gives_503_and_recovers covers write failures")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_full_disk_gives_503_never_2xx_and_recovers_when_space_returns(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "1m") as disk:
        ballast = disk / "ballast"
        ballast.write_bytes(os.urandom(400_000))  # what the operator deletes to free space
        settings = make_settings(tmp_path, data_dir=disk / "data", journal_segment_seconds=0.05)
        # Random hex does not compress away, so the disk fills after a few dozen deliveries.
        bodies = [orjson.dumps({"call_log_id": f"c{i}", "blob": os.urandom(6_000).hex()})
                  for i in range(150)]

        async def scenario() -> tuple[set[str], list[int], int]:
            async with running_app(settings) as (_, client):
                acked: set[str] = set()
                statuses: list[int] = []
                for body in bodies:
                    response = await client.post("/webhooks/crm", content=body, headers=AUTH)
                    statuses.append(response.status_code)
                    if response.status_code == 200:
                        acked.add(str(response.json()["delivery_id"]))
                ballast.unlink()  # space returns; the server keeps running
                deadline = time.monotonic() + 10
                while (await client.get("/readyz")).status_code != 200:
                    assert time.monotonic() < deadline, "never recovered"
                    await asyncio.sleep(0.05)
                after = await client.post("/webhooks/crm", content=b'{"call_log_id": "back"}',
                                          headers=AUTH)
                acked.add(str(after.json()["delivery_id"]))
                return acked, statuses, after.status_code

        acked, statuses, after = asyncio.run(scenario())
        assert 503 in statuses, "the disk never filled; make the bodies bigger"
        assert set(statuses) <= {200, 503}
        assert after == 200
        stored = set(read_landing(settings.layout.landing_dir).column("delivery_id").to_pylist())
        assert acked == stored, "every 200 is in landing, and nothing answered 503 is"
        assert not list(settings.layout.landing_dir.rglob("*.tmp")), "no temp file left behind"
        assert not list(settings.layout.landing_dir.rglob("*.journal")), "journal fully published"
