"""Publication by a private copy brought up to date with each run's changed rows (real asset
graph, real DuckDB files, a reader in another process holding an older publication open)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from osvi_pipeline.warehouse import published_copy
from osvi_pipeline.warehouse.change_log import ensure_state
from osvi_pipeline.warehouse.publish import link_published
from tests.support.config import make_settings
from tests.support.histories import differences, landings
from tests.support.pipeline import land, query, run

DAYS = ["2026-11-26", "2026-11-27", "2026-11-28"]  # landings()' first three days


def snapshot_metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    [event] = [event for event in result.get_asset_materialization_events()
               if event.asset_key.path[-1] == "warehouse_snapshot"]
    return {key: value.value for key, value in event.materialization.metadata.items()}


def copies(working: Path) -> dict[int, Path]:
    return {path.stat().st_ino: path for path in working.parent.glob("published-*.duckdb")}


@pytest.fixture
def changed_rows_always(monkeypatch: pytest.MonkeyPatch) -> None:
    """These histories are tiny, so every run changes a large share of the calls (and adds
    columns, rebuilding wide tables in full), and a copy would always be remade by a file
    copy: take the changed rows whatever they are."""
    monkeypatch.setattr(published_copy, "_cheaper_to_copy_whole", lambda con, copy: False)


@pytest.mark.usefixtures("changed_rows_always")
@pytest.mark.parametrize("pii", ["keep", "mask"])
def test_each_run_publishes_the_other_copy_with_only_its_changed_rows(
        tmp_path: Path, pii: str) -> None:
    settings = make_settings(tmp_path / "runs", pii=pii)
    scratch = make_settings(tmp_path / "scratch", pii=pii)
    published_copies = []
    how = []
    for rows, day in zip(landings()[:3], DAYS, strict=True):
        land(settings, rows)
        land(scratch, rows)
        how.append(snapshot_metadata(run(settings, day)))
        # OSVI_WAREHOUSE is one of the two private copies (a hard link), not a copy of it.
        published_copies.append(copies(settings.layout.pipeline_warehouse_path)
                                [settings.layout.warehouse_path.stat().st_ino].name)
    assert published_copies == ["published-a.duckdb", "published-b.duckdb",
                                "published-a.duckdb"]
    first, second, third = how
    # Each copy is made once (raw: a file copy of the working file; masked: the first built,
    # the second a file copy of it); then each run gives a copy only the rows changed since it
    # was written.
    assert first["copy"] == ("published-a.duckdb (seeded)" if pii == "keep"
                             else "published-a.duckdb (empty)")
    assert second["copy"] == ("published-b.duckdb (seeded)" if pii == "keep"
                              else "published-b.duckdb (reseeded)")
    assert third["copy"] == "published-a.duckdb (kept)"
    for changed in ("deliveries", "calls", "call_deliveries", "data_capture_fields"):
        assert third["tables"][changed] == "incremental", changed  # type: ignore[index]
    run(scratch, DAYS[0], DAYS[-1])
    assert differences(settings.layout.warehouse_path, scratch.layout.warehouse_path) == {}
    if pii == "keep":  # the published tables are the working file's, row for row
        layout = settings.layout
        assert differences(layout.warehouse_path, layout.pipeline_warehouse_path) == {}


READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("select count(*) from deliveries").fetchone()[0], flush=True)
sys.stdin.readline()  # held open, read-only, until the test has run twice more
print(con.execute("select count(*) from deliveries").fetchone()[0], flush=True)
"""


def test_a_copy_far_behind_is_remade_by_a_file_copy(tmp_path: Path) -> None:
    """When more than RESEED_SHARE of the calls changed since a copy was written (here every
    run adds a large share), copying the working file whole is cheaper than the changed rows."""
    settings = make_settings(tmp_path)
    for rows, day in zip(landings()[:3], DAYS, strict=True):
        land(settings, rows)
        how = snapshot_metadata(run(settings, day))
    assert how["copy"] == "published-a.duckdb (seeded)"  # it existed: remade, not taken
    layout = settings.layout
    assert differences(layout.warehouse_path, layout.pipeline_warehouse_path) == {}


@pytest.mark.usefixtures("changed_rows_always")
def test_a_reader_holding_an_older_publication_keeps_it_and_runs_go_on(tmp_path: Path) -> None:
    """Two runs after a reader opened OSVI_WAREHOUSE, its copy is the one to write; DuckDB's
    lock refuses that, so the run replaces the copy by a fresh file (the reader keeps the
    inode it opened, and its snapshot)."""
    settings = make_settings(tmp_path)
    batches = landings()
    land(settings, batches[0])
    run(settings, DAYS[0])
    before = query(settings, "select count(*) from deliveries")[0][0]
    reader = subprocess.Popen([sys.executable, "-c", READER, str(settings.layout.warehouse_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdin is not None
        assert int(reader.stdout.readline()) == before
        land(settings, batches[1])
        run(settings, DAYS[1])
        land(settings, batches[2])
        held = snapshot_metadata(run(settings, DAYS[2]))
        assert held["copy"] == "published-a.duckdb (seeded)"
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert int(reader.stdout.readline()) == before  # its snapshot, unchanged
    finally:
        reader.kill()
        reader.wait()
    after = query(settings, "select count(*) from deliveries")[0][0]
    assert after > before
    layout = settings.layout
    assert differences(layout.warehouse_path, layout.pipeline_warehouse_path) == {}
    # The next run writes the other copy again, incrementally.
    assert snapshot_metadata(run(settings, DAYS[2]))["copy"] == "published-b.duckdb (kept)"


def test_a_warehouse_on_another_filesystem_is_published_as_a_copy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    copy = tmp_path / "published-a.duckdb"
    copy.write_bytes(os.urandom(100_000))
    published = tmp_path / "out" / "warehouse.duckdb"
    monkeypatch.setattr(os, "link", refuse)
    assert link_published(copy, published) == 100_000
    assert published.read_bytes() == copy.read_bytes()
    assert published.stat().st_ino != copy.stat().st_ino
    assert sorted(path.name for path in published.parent.iterdir()) == ["warehouse.duckdb"]


def test_a_copy_is_remade_whole_past_a_share_of_changed_calls_or_a_full_rebuild(
        tmp_path: Path) -> None:
    copy = tmp_path / "published-a.duckdb"
    with duckdb.connect(str(tmp_path / "working.duckdb")) as con:
        ensure_state(con)
        con.execute("create table calls as select i::varchar as call_log_id from range(1000) t(i)")
        con.execute("insert into osvi_state.copies values ('published-a.duckdb', 10)")
        con.execute("insert into osvi_state.changes select 9, 'deliveries', 'call_log_id', "
                    "i::varchar from range(500) t(i)")  # before the copy's watermark
        con.execute("insert into osvi_state.changes select 11, 'deliveries', 'call_log_id', "
                    "i::varchar from range(20) t(i)")  # 2 % of the calls: the changed rows
        assert not published_copy._cheaper_to_copy_whole(con, copy)
        con.execute("insert into osvi_state.changes values (12, 'deliveries', 'call_log_id', "
                    "'one more')")
        assert published_copy._cheaper_to_copy_whole(con, copy)
        con.execute("delete from osvi_state.changes where change_id = 12")
        con.execute("insert into osvi_state.changes values (12, 'calls', 'call_log_id', null)")
        assert published_copy._cheaper_to_copy_whole(con, copy)  # a table rebuilt in full
        assert not published_copy._cheaper_to_copy_whole(con, tmp_path / "published-b.duckdb")
