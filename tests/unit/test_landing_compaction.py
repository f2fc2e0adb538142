"""Landing compaction's plan (pure) and what readers see of a day in each of its states (real
files in a local landing folder)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from osvi_core.landing import encode_parquet, write_landing_bytes
from osvi_core.landing_compaction import finish_compactions, plan_manifest
from osvi_core.landing_store import LocalLandingStore
from osvi_pipeline.lib.compaction_plan import covers, group_hours, loaded_everywhere

DAY = "2026-11-26"
MIDNIGHT = datetime(2026, 11, 26, tzinfo=UTC)
H = timedelta(hours=1)


def test_hours_are_grouped_up_to_the_part_size() -> None:
    assert group_hours({}, 10) == []
    assert group_hours({3: 4, 5: 4}, 10) == [(3, 6)]
    assert group_hours({0: 6, 1: 6, 2: 3, 7: 20}, 10) == [(0, 1), (1, 7), (7, 8)]


def test_windows_cover_a_day_only_without_gaps() -> None:
    day = (MIDNIGHT, MIDNIGHT + 24 * H)
    assert covers([day], *day)
    assert covers([(MIDNIGHT - 5 * H, MIDNIGHT + 19 * H), (MIDNIGHT + 19 * H, MIDNIGHT + 43 * H)],
                  *day)
    assert not covers([(MIDNIGHT, MIDNIGHT + 12 * H), (MIDNIGHT + 13 * H, MIDNIGHT + 30 * H)],
                      *day)


def test_only_files_every_load_of_the_day_read_are_merged() -> None:
    day = (MIDNIGHT, MIDNIGHT + 24 * H)
    morning, evening = (MIDNIGHT - 5 * H, MIDNIGHT + 19 * H), (MIDNIGHT + 19 * H,
                                                              MIDNIGHT + 43 * H)
    loaded = {morning: {"a", "b", "c"}, evening: {"a", "b"}}
    assert loaded_everywhere(loaded, *day, ["a", "b", "c", "d"]) == {"a", "b"}
    assert loaded_everywhere({morning: {"a", "b"}}, *day, ["a", "b"]) == set()  # a gap


def _file(store: LocalLandingStore, name: str, minute: int) -> None:
    row = (f"id-{name}", int((MIDNIGHT + timedelta(minutes=minute)).timestamp() * 1e6), "crm",
           "POST", "/webhooks/crm", None, "{}", "{}", None, None, None, None)
    write_landing_bytes(store.directory, DAY, name, encode_parquet([row]))


def test_readers_see_every_file_once_in_each_state(tmp_path: Path) -> None:
    store = LocalLandingStore(tmp_path / "landing", tmp_path / "quarantine")
    for minute, name in enumerate(["a.parquet", "b.parquet", "c.parquet"]):
        _file(store, name, minute)
    manifest = plan_manifest(["a.parquet", "b.parquet", "c.parquet"], 2)
    assert manifest == plan_manifest(["c.parquet", "b.parquet", "a.parquet"], 2)  # repeatable

    def seen() -> list[str]:
        return [file.name for file in store.files(DAY)]

    store.write_manifest(DAY, manifest)
    _file(store, manifest.parts[0], 0)
    assert seen() == ["a.parquet", "b.parquet", "c.parquet"]  # a part missing: the sources
    _file(store, manifest.parts[1], 1)
    assert seen() == list(manifest.parts)  # every part there: the parts
    assert len(store.files(DAY, hide_superseded=False)) == 5

    [finished] = finish_compactions(store, DAY)
    assert finished.completed and seen() == list(manifest.parts)
    assert sorted(path.name for path in (store.directory / f"received_date={DAY}").iterdir()) \
        == list(manifest.parts)


def _first_part_written(tmp_path: Path, parts: int) -> LocalLandingStore:
    """Two sources, a manifest of `parts` parts, and its first part written."""
    store = LocalLandingStore(tmp_path / "landing", tmp_path / "quarantine")
    _file(store, "a.parquet", 0)
    _file(store, "b.parquet", 1)
    manifest = plan_manifest(["a.parquet", "b.parquet"], parts)
    store.write_manifest(DAY, manifest)
    _file(store, manifest.parts[0], 0)
    return store


def test_an_incomplete_compaction_is_undone(tmp_path: Path) -> None:
    store = _first_part_written(tmp_path, 2)
    [finished] = finish_compactions(store, DAY)
    assert not finished.completed
    assert [file.name for file in store.files(DAY, hide_superseded=False)] == ["a.parquet",
                                                                             "b.parquet"]
    assert store.listing(DAY)[1] == []  # no compaction under way


def test_a_complete_compaction_the_pipeline_refuses_is_undone(tmp_path: Path) -> None:
    """`before_sources_go` False (the counts differ): the sources stay, the parts go."""
    store = _first_part_written(tmp_path, 1)  # its only part: complete
    [finished] = finish_compactions(store, DAY, lambda _: False)
    assert not finished.completed
    assert [file.name for file in store.files(DAY)] == ["a.parquet", "b.parquet"]
