"""Days at the edges of the clock, and pipeline runs that are killed or collide."""

from __future__ import annotations

import fcntl
import itertools
import os
import shutil
import signal
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from osvi_pipeline.definitions import build_definitions
from osvi_testkit.processes import OSVI
from tests.support.config import make_settings
from tests.support.pipeline import delivery, land, query, run


def test_midnight_and_dst_land_in_the_right_local_day(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, timezone="America/New_York")
    # DST ends on 2026-11-01 at 02:00 EDT: that local day lasts 25 hours.
    moments = {
        "oct31-last-minute": datetime(2026, 11, 1, 3, 59, tzinfo=UTC),   # 23:59 EDT Oct 31
        "nov1-first-minute": datetime(2026, 11, 1, 4, 1, tzinfo=UTC),    # 00:01 EDT Nov 1
        "nov1-repeated-hour": datetime(2026, 11, 1, 6, 30, tzinfo=UTC),  # 01:30 EST Nov 1
        "nov1-last-minute": datetime(2026, 11, 2, 4, 59, tzinfo=UTC),    # 23:59 EST Nov 1
        "nov2-first-minute": datetime(2026, 11, 2, 5, 1, tzinfo=UTC),    # 00:01 EST Nov 2
    }
    land(settings, [delivery(at, {"call_log_id": name}) for name, at in moments.items()])
    run(settings, "2026-10-31", "2026-11-02")
    assert dict(query(settings, "select call_log_id, call_date from calls")) == {
        "oct31-last-minute": date(2026, 10, 31),
        "nov1-first-minute": date(2026, 11, 1),
        "nov1-repeated-hour": date(2026, 11, 1),
        "nov1-last-minute": date(2026, 11, 1),
        "nov2-first-minute": date(2026, 11, 2),
    }
    run(settings, "2026-11-01")  # re-running the 25-hour day alone changes nothing
    assert query(settings, "select count(*) from deliveries") == [(5,)]


def _materialize(settings_dir: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OSVI_DATA_DIR": str(settings_dir), "OSVI_TIMEZONE": "UTC"}
    return subprocess.Popen([str(OSVI), "materialize", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _step_spans(dagster_home: Path) -> list[tuple[float, float]]:
    """Each recorded run's first step start and last step end."""
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    spans = []
    for recorded in instance.get_runs():
        times = [event.timestamp for event in instance.all_logs(recorded.run_id)
                 if event.dagster_event is not None and event.dagster_event.event_type
                 in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS)]
        spans.append((min(times), max(times)))
    return spans


def _calls(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return int(con.execute("select count(*) from calls").fetchone()[0])  # type: ignore[index]


@pytest.mark.slow
def test_a_killed_run_leaves_the_last_complete_state_and_the_next_run_completes(
        tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    day = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    land(settings, [delivery(day + timedelta(seconds=i), {"call_log_id": f"a{i}"})
                    for i in range(50)])
    run(settings, "2026-11-20")
    assert _calls(settings.layout.warehouse_path) == 50
    land(settings, [delivery(day + timedelta(days=1, seconds=i), {"call_log_id": f"b{i}"})
                    for i in range(70)])
    for delay in (1.5, 3.0, 4.5):  # kill -9 at different points of the run
        victim = _materialize(settings.data_dir)
        time.sleep(delay)
        victim.send_signal(signal.SIGKILL)
        victim.wait(30)
        assert _calls(settings.layout.warehouse_path) in (50, 120), "only complete states published"
    finished = _materialize(settings.data_dir)
    _, errors = finished.communicate(timeout=300)
    assert finished.returncode == 0, errors
    assert _calls(settings.layout.warehouse_path) == 120
    assert query(settings, "select count(*), count(distinct delivery_id) from deliveries") == [
        (120, 120)]
    assert not list(settings.data_dir.glob(".warehouse.duckdb.*.tmp")), "killed copies cleaned"


@pytest.mark.slow
def test_two_materializations_at_once_do_not_corrupt_anything(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    day = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    land(settings, [delivery(day + timedelta(seconds=i), {"call_log_id": f"c{i}"})
                    for i in range(40)])
    runs = [_materialize(settings.data_dir), _materialize(settings.data_dir)]
    outcomes = [(process.wait(300), process.communicate()[1]) for process in runs]
    # The run lock makes the second wait for the first instead of interleaving with it.
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    spans = sorted(_step_spans(settings.data_dir / "dagster"))
    assert len(spans) == 2, "one run per materialize"
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, f"runs overlapped: {spans}"
    final = _materialize(settings.data_dir)
    assert final.wait(300) == 0
    assert _calls(settings.layout.warehouse_path) == 40
    assert query(settings, "select count(*) from deliveries") == [(40,)]


def test_a_corrupt_landing_file_is_quarantined_not_a_failed_day(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    day = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    land(settings, [delivery(day, {"call_log_id": "good"})])
    partition = next(settings.layout.landing_dir.glob("received_date=2026-11-20"))
    (partition / "broken.parquet").write_bytes(b"PAR1 this is not a parquet file")
    good = next(partition.glob("*.parquet"))
    truncated = partition / "truncated.parquet"
    truncated.write_bytes(good.read_bytes()[:-20])
    result = run(settings, "2026-11-20")
    assert query(settings, "select call_log_id from calls") == [("good",)]
    quarantine = settings.layout.quarantine_dir / "landing-corrupt"
    moved = sorted(p.name for p in quarantine.glob("*.parquet"))
    assert moved == ["received_date=2026-11-20-broken.parquet",
                     "received_date=2026-11-20-truncated.parquet"]
    for name in moved:  # the reason lies beside each file
        assert "unreadable Parquet" in (quarantine / f"{name}.reason.txt").read_text()
    metadata = result.asset_materializations_for_node("deliveries")[0].metadata
    assert len(metadata["quarantined_files"].value) == 2  # type: ignore[arg-type]


def test_deleting_the_working_files_while_definitions_are_loaded_rebuilds(tmp_path: Path) -> None:
    """docs/warehouse.md: delete data/pipeline/ to force a full rebuild. `osvi up` loaded its
    definitions long before; its next run must rebuild from landing, not fail on the missing
    folder."""
    settings = make_settings(tmp_path)
    day = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    land(settings, [delivery(day + timedelta(seconds=i), {"call_log_id": f"c{i}"})
                    for i in range(5)])
    job = build_definitions(settings).resolve_job_def("warehouse_job")
    assert job.execute_in_process(partition_key="2026-11-20",
                                  instance=dg.DagsterInstance.ephemeral()).success
    shutil.rmtree(settings.data_dir / "pipeline")
    assert job.execute_in_process(partition_key="2026-11-20",
                                  instance=dg.DagsterInstance.ephemeral()).success
    assert _calls(settings.layout.warehouse_path) == 5


@pytest.mark.slow
def test_materialize_waits_for_a_run_holding_the_warehouse_and_says_so(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    land(settings, [delivery(datetime(2026, 11, 20, 8, tzinfo=UTC), {"call_log_id": "c1"})])
    lock = settings.layout.pipeline_run_lock_path
    lock.parent.mkdir(parents=True)
    with open(lock, "ab") as held:  # another run, e.g. one the sensor launched
        fcntl.flock(held, fcntl.LOCK_EX)
        waiting = _materialize(settings.data_dir, "--date", "2026-11-20")
        time.sleep(5)
        assert waiting.poll() is None, "it must wait, not fail"
    _, errors = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, errors
    assert "another run is writing the warehouse: waiting for it" in errors
    assert _calls(settings.layout.warehouse_path) == 1
