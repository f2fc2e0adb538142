"""The journal's crash rules, on real files: torn tails, corruption, repeated compaction."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow.parquet as pq

from ingest_api.journal import (
    DurableLanding,
    abandoned_segments,
    compact_segment,
    decode_records,
    encode_records,
)
from osvi_core.landing import LandingRow
from tests.support.landing import read_landing

MIDNIGHT_UTC_US = 1_795_910_400_000_000  # 2026-11-29T00:00:00Z


def _row(index: int, received_at: int = MIDNIGHT_UTC_US + 5_000_000) -> LandingRow:
    return LandingRow(f"d{index}", received_at, "crm", "POST", "/webhooks/crm", None, "{}",
                      f'{{"call_log_id": "c{index}"}}', None, f"c{index}", None)


def test_decoding_stops_at_a_torn_or_corrupt_record() -> None:
    data = encode_records([_row(1), _row(2), _row(3)])
    records, rest = decode_records(data)
    assert [r[0] for r in records] == ["d1", "d2", "d3"] and rest == 0
    torn, rest = decode_records(data[:-5])
    assert [r[0] for r in torn] == ["d1", "d2"] and rest > 0
    flipped = bytearray(data)
    flipped[len(encode_records([_row(1)])) + 12] ^= 0xFF  # inside the second payload
    corrupt, _ = decode_records(bytes(flipped))
    assert [r[0] for r in corrupt] == ["d1"]


def test_compaction_splits_by_utc_day_and_is_idempotent(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    store = DurableLanding.for_folder(landing)
    store.append([_row(1, MIDNIGHT_UTC_US - 1), _row(2, MIDNIGHT_UTC_US)])
    store.rotate_if_due(force=True)
    [segment] = list((landing / "_journal").glob("*.journal"))
    copy = segment.read_bytes()
    assert store.compact_closed() == 2
    days = sorted(path.parent.name for path in landing.glob("*/*.parquet"))
    assert days == ["received_date=2026-11-28", "received_date=2026-11-29"]
    segment.write_bytes(copy)  # a crash after publishing, before the segment was deleted
    assert compact_segment(segment, store.store, store.replica) == 2
    assert sorted(read_landing(landing).column("delivery_id").to_pylist()) == ["d1", "d2"]


def test_recovery_takes_dead_and_own_pid_segments_but_not_live_ones(tmp_path: Path) -> None:
    journal = tmp_path / "landing" / "_journal"
    journal.mkdir(parents=True)
    data = encode_records([_row(7)])
    (journal / "999999999-aa-00000001.journal").write_bytes(data)  # a dead process
    (journal / f"{os.getpid()}-bb-00000001.journal").write_bytes(data)  # our pid, earlier run
    (journal / f"{os.getppid()}-cc-00000001.journal").write_bytes(data)  # another live worker
    found = sorted(path.name.split("-")[1] for path in abandoned_segments(journal))
    assert found == ["aa", "bb"]
    assert DurableLanding.for_folder(tmp_path / "landing").recover() == 2
    assert [p.name.split("-")[1] for p in journal.iterdir()] == ["cc"]


def test_segments_rotate_by_rows_and_age(tmp_path: Path) -> None:
    store = DurableLanding.for_folder(tmp_path / "landing", segment_rows=3, segment_seconds=0.05)
    store.append([_row(i) for i in range(3)])  # full: closed at once
    store.append([_row(3)])
    assert store.backlog() == 2
    time.sleep(0.06)
    store.rotate_if_due()
    assert store.compact_closed() == 4 and store.backlog() == 0
    files = sorted((tmp_path / "landing").glob("*/*.parquet"))
    assert [pq.read_metadata(f).num_rows for f in files] in ([3, 1], [1, 3])


def test_the_sensor_lists_only_day_folders_changed_since_its_horizon(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    store = DurableLanding.for_folder(landing)
    store.append([_row(1, MIDNIGHT_UTC_US - 1), _row(2, MIDNIGHT_UTC_US)])
    store.drain()
    old, new = sorted(landing.glob("received_date=*"))
    os.utime(old, ns=(10**18, 10**18))  # untouched for a long time
    assert store.store.days_changed_since(2 * 10**18) == []
    assert store.store.days_changed_since(10**18) == [new.name.removeprefix("received_date=")]
    store.append([_row(3, MIDNIGHT_UTC_US - 1)])  # a new file in the old day's folder
    store.drain()
    assert len(store.store.days_changed_since(10**18)) == 2
