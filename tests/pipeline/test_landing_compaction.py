"""Landing compaction on the real asset graph: a closed day's many small files become one,
sorted by receipt, every delivery kept once, and the loads' per-file watermark follows them
(a later micro-batch appends only what is new; a rebuild of the day reads the parts)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from osvi_core.landing import PARTITION_PREFIX
from osvi_core.landing_store import LocalLandingStore
from osvi_core.settings import Settings
from osvi_pipeline.definitions import build_definitions
from osvi_pipeline.warehouse import landing_compaction
from osvi_pipeline.warehouse.landing_compaction import compact_day
from tests.support.config import make_settings
from tests.support.histories import DAY, DAY1, simulated
from tests.support.landing import read_landing
from tests.support.pipeline import land, landing_sensor_evaluator, query, run

pytestmark = pytest.mark.timeout(600)
DAY_NAME = DAY1.date().isoformat()


def folder(settings: Settings) -> Path:
    return settings.layout.landing_dir / f"{PARTITION_PREFIX}{DAY_NAME}"


def land_in_small_files(settings: Settings, files: int, per_file: int, seed: int) -> None:
    """`files` landing files of the day, as a live day publishes them (one per segment)."""
    for index in range(files):
        land(settings, simulated(DAY1 + timedelta(minutes=7 * index + seed), per_file,
                                 seed + index))


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object]:
    [event] = [event for event in result.get_asset_materialization_events()
               if event.asset_key.path[-1] == asset]
    return {key: value.value for key, value in event.materialization.metadata.items()}


def landing_rows(settings: Settings) -> list[tuple[str, str | None]]:
    table = read_landing(settings.layout.landing_dir)
    return sorted(zip(table["delivery_id"].to_pylist(), table["body"].to_pylist(), strict=True))


def test_a_closed_days_files_become_one_and_loads_read_nothing_twice(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    land_in_small_files(settings, 12, 5, seed=1)
    run(settings, DAY_NAME, only_new_files=True)  # the sensor's micro-batches
    land_in_small_files(settings, 10, 5, seed=100)
    run(settings, DAY_NAME, only_new_files=True)
    land(settings, simulated(DAY1 + DAY, 3, 500))  # the next day: its own folder
    before = landing_rows(settings)
    assert len(list(folder(settings).glob("*.parquet"))) == 22
    evaluate = landing_sensor_evaluator(build_definitions(settings),
                                        dg.DagsterInstance.ephemeral())
    _, cursor = evaluate(None)

    daily = run(settings, DAY_NAME)  # the daily run: loads, publishes, then compacts
    compaction = metadata(daily, "landing_compaction")
    assert compaction["files_merged"] == 22 and compaction["files_written"] == 1
    [part] = folder(settings).iterdir()  # no manifest, no source left
    assert part.name.startswith("compacted-") and part.name.endswith("-1of1.parquet")
    assert landing_rows(settings) == before  # every delivery, once, byte for byte
    received = pq.read_table(part)["received_at"].to_pylist()
    assert received == sorted(received) and len(received) == 110
    loaded = query(settings, "select count(*) from deliveries where received_day = $d",
                   {"d": DAY1.date()})
    assert loaded == [(110,)]
    assert evaluate(cursor)[0] == [], "the part is not a new file for the sensor"

    # The watermark follows the part: a micro-batch appends the late file alone.
    land(settings, simulated(DAY1 + timedelta(hours=10), 2, 900))
    late = run(settings, DAY_NAME, only_new_files=True)
    load = metadata(late, "deliveries")
    assert (load["landing_files_read"], load["load"]) == (1, "new files appended")
    assert query(settings, "select count(*) from deliveries where received_day = $d",
                 {"d": DAY1.date()}) == [(112,)]
    checks = [check for check in late.get_asset_check_evaluations()
              if check.check_name == "landing_rows_equal_deliveries"]
    assert checks and all(check.passed for check in checks)

    # A rebuild of the day reads the part and the late file: the same rows, none twice.
    again = run(settings, DAY_NAME)
    assert metadata(again, "landing_compaction")["files_merged"] == 0  # two files: left
    assert query(settings, "select count(*), count(distinct delivery_id) from deliveries "
                           "where received_day = $d", {"d": DAY1.date()}) == [(112, 112)]


class FailingSecondPart(LocalLandingStore):
    """A disk that fails while the second part is written (a killed run, for the files)."""

    def publish(self, day: str, name: str, data: bytes) -> bool:
        if name.split("-")[-1].startswith("2of"):
            raise OSError("disk full")
        return super().publish(day, name, data)


def test_an_interrupted_compaction_hides_its_parts_then_is_finished(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    land_in_small_files(settings, 20, 6, seed=3)
    run(settings, DAY_NAME, only_new_files=True)  # a micro-batch: no compaction
    before = landing_rows(settings)
    failing = FailingSecondPart(settings.layout.landing_dir, settings.layout.quarantine_dir)
    with duckdb.connect(str(settings.layout.pipeline_warehouse_path)) as con, \
            pytest.raises(OSError, match="disk full"):
        compact_day(con, failing, DAY_NAME, tmp_path / "scratch", part_rows=40, min_files=2)
    names = sorted(path.name for path in folder(settings).iterdir())
    assert any(name.endswith(".json") for name in names)  # the manifest
    assert any(name.endswith("-1of3.parquet") for name in names)  # a part, hidden

    # A load of the day now reads the sources only: no delivery twice.
    rebuilt = run(settings, DAY_NAME)
    assert query(settings, "select count(*), count(distinct delivery_id) from deliveries "
                           "where received_day = $d", {"d": DAY1.date()}) == [(120, 120)]
    # That run's compaction undid the broken attempt and merged the day (MIN_FILES is 16).
    compaction = metadata(rebuilt, "landing_compaction")
    assert compaction["interrupted_attempts_finished"] == 1
    assert compaction["files_merged"] == 20
    assert [path.suffix for path in folder(settings).iterdir()] == [".parquet"]
    assert landing_rows(settings) == before


def test_the_open_days_settled_files_are_merged_every_hour(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Today's folder is what the sensor and every micro-batch list: its loaded files
    published 10 minutes ago or more are merged by the hourly job; a newer file stays, and
    the next micro-batch appends it alone."""
    settings = make_settings(tmp_path)
    now = datetime.now(UTC)
    today = now.date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=UTC)
    for index in range(12):
        land(settings, simulated(midnight + timedelta(seconds=index), 2, 40 + index))
    run(settings, today.isoformat(), only_new_files=True)
    settled = (now - timedelta(minutes=20)).timestamp()
    today_folder = settings.layout.landing_dir / f"{PARTITION_PREFIX}{today}"
    for path in today_folder.iterdir():
        os.utime(path, (settled, settled))
    land(settings, simulated(midnight + timedelta(seconds=30), 1, 99))  # published just now

    monkeypatch.setattr(landing_compaction, "OPEN_DAY_FILES", 10)
    defs = build_definitions(settings)
    schedule = defs.resolve_schedule_def("landing_compaction_schedule")
    request = schedule(dg.build_schedule_context(scheduled_execution_time=now))
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == today.isoformat()
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("landing_compaction_job").execute_in_process(
        partition_key=request.partition_key, instance=instance)
    assert metadata(result, "landing_compaction")["files_merged"] == 12
    names = sorted(path.name for path in today_folder.iterdir())
    assert len(names) == 2  # the part, and the new file
    assert sum(name.startswith("compacted-") for name in names) == 1

    later = run(settings, today.isoformat(), only_new_files=True)
    assert metadata(later, "deliveries")["landing_files_read"] == 1
    assert query(settings, "select count(*), count(distinct delivery_id) from deliveries") == [
        (25, 25)]
