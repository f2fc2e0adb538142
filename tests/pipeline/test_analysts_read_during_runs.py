"""Analysts open the warehouse read-only at any moment, even while runs write."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.config import make_settings
from tests.support.pipeline import delivery, land, query, run

READER = """
import json, sys, time, duckdb
warehouse, stop, out = sys.argv[1:4]
import os
with open(out, "w") as log:
    while not os.path.exists(stop):
        try:
            with duckdb.connect(warehouse, read_only=True) as con:
                calls, days = con.execute(
                    "select count(*), count(distinct call_date) from calls").fetchone()
            log.write(json.dumps({"calls": calls, "days": days}) + "\\n")
        except Exception as exc:
            log.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\\n")
        log.flush()
        time.sleep(0.01)
"""


def test_a_reader_never_fails_and_only_sees_complete_states(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    start = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    per_day = [40, 25, 60, 10, 35]
    land(settings, [delivery(start + timedelta(days=day, seconds=i),
                             {"call_log_id": f"d{day}-{i}", "call_status": "picked"})
                    for day, count in enumerate(per_day) for i in range(count)])
    run(settings, "2026-11-20")  # a first snapshot exists before the reader starts
    stop, out = tmp_path / "stop", tmp_path / "reads.jsonl"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(settings.layout.warehouse_path),
                               str(stop), str(out)])
    try:
        deadline = time.monotonic() + 30  # the reader is reading before the runs start
        while (not out.exists() or not out.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        for day in range(1, len(per_day)):  # a backfill, one day per run
            run(settings, "2026-11-20", f"2026-11-{20 + day}")
        time.sleep(0.3)
    finally:
        stop.touch()
        reader.wait(30)
    reads = [json.loads(line) for line in out.read_text().splitlines()]
    errors = [r["error"] for r in reads if "error" in r]
    assert not errors, errors[:3]
    complete = {(sum(per_day[: k + 1]), k + 1) for k in range(len(per_day))}
    seen = [(r["calls"], r["days"]) for r in reads]
    assert len(seen) > 20, "the reader barely ran"
    assert set(seen) <= complete, "a reader saw a half-written state"
    assert seen == sorted(seen), "totals only move forward"
    assert len(set(seen)) >= 3, "the reader saw the runs publish"
    assert query(settings, "select count(*) from calls") == [(sum(per_day),)]
