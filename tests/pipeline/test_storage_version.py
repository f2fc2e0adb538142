"""The warehouse files open in the analysts' older DuckDB (OSVI_DUCKDB_STORAGE_VERSION)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from osvi_core.settings import Settings
from osvi_pipeline.warehouse.storage_format import (
    convert_if_newer,
    is_newer_than_wanted,
    storage_version_of,
)
from tests.support.config import CHECKOUT, make_settings, sample_payload_bytes
from tests.support.pipeline import delivery, land, query, run

# An older DuckDB, installed beside the project's by `make test` (pip install --target).
OLDER_DUCKDB = CHECKOUT / ".venv" / "duckdb-1.4"
CONFIG = {"storage_compatibility_version": "v1.4.0"}
RELATIONS = ("select schema_name, table_name from duckdb_tables() union all "
             "select schema_name, view_name from duckdb_views() where not internal")


@pytest.mark.parametrize(("file_version", "wanted", "convert"), [
    ("v2.0.0+", "v1.4.0", True),
    ("v1.4.0+", "v1.4.0", False),
    ("v1.2.0+", "v1.4.0", False),  # older opens wherever newer does
    ("v1.10.0+", "v1.9.0", True),  # compared as numbers, not text
    ("v2.0.0+", "latest", False),
    ("something else", "v1.4.0", False),
])
def test_only_a_newer_format_is_converted(file_version: str, wanted: str, convert: bool) -> None:
    assert is_newer_than_wanted(file_version, wanted) is convert


def _catalog_and_rows(database: Path) -> tuple[object, ...]:
    with duckdb.connect(str(database), read_only=True) as con:
        return (con.execute("select schema_name, table_name, sql from duckdb_tables() "
                            "order by all").fetchall(),
                con.execute("select schema_name, view_name, sql from duckdb_views() "
                            "where not internal order by all").fetchall(),
                con.execute("select * from s.t order by all").fetchall(),
                con.execute("select * from v order by all").fetchall())


def test_a_newer_file_is_converted_with_everything_in_it(tmp_path: Path) -> None:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as con:  # DuckDB's newest format, as before the setting
        con.execute("create schema s")
        con.execute("create table s.t (id integer not null, body varchar using compression zstd)")
        con.execute("insert into s.t select i, repeat('x', i % 50) from range(5000) r(i)")
        con.execute("create view v as select count(*) as n from s.t")
        con.execute("checkpoint")
        con.execute("pragma disable_checkpoint_on_shutdown")
        con.execute("insert into s.t values (-1, 'only in the WAL')")  # as after a kill -9
    assert Path(f"{database}.wal").exists()
    before = _catalog_and_rows(database)
    assert before[2][0] == (-1, "only in the WAL")

    assert convert_if_newer(database, CONFIG) == "v2.0.0+"
    assert storage_version_of(database) == "v1.4.0+"
    assert _catalog_and_rows(database) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["warehouse.duckdb"]
    assert convert_if_newer(database, CONFIG) is None, "converted once"


def _read_with_older_duckdb(database: Path) -> dict[str, int]:
    """Every table and view of `database` read whole by the older DuckDB: rows per relation."""
    if not (OLDER_DUCKDB / "duckdb").is_dir():
        message = f"{OLDER_DUCKDB} is missing: `make test` installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    code = f"""
import duckdb, json
assert duckdb.__version__.startswith("1.4"), duckdb.__version__
con = duckdb.connect({str(database)!r}, read_only=True)
names = con.execute({RELATIONS!r}).fetchall()
counts = {{}}
for schema, name in names:
    relation = f'"{{schema}}"."{{name}}"'
    counts[f"{{schema}}.{{name}}"] = len(con.execute(
        f"select columns(*)::varchar from {{relation}}").fetchall())
print(json.dumps(counts))
"""
    env = {**os.environ, "PYTHONPATH": str(OLDER_DUCKDB)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    counts: dict[str, int] = json.loads(done.stdout)
    return counts


def _counts(settings: Settings) -> dict[str, int]:
    tables = query(settings, RELATIONS)
    return {f"{schema}.{name}": query(settings, f'select count(*) from "{schema}"."{name}"')[0][0]
            for schema, name in tables}


def _one_day_of_calls(settings: Settings) -> None:
    at = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    land(settings, [delivery(at, json.loads(sample_payload_bytes())),
                    delivery(at, b"not json"),
                    delivery(at, {"call_log_id": "second", "data_capture": {"nps": 9},
                                  "structured_output": {"_matched_condition": "confirmed",
                                                        "appointment": {"date": "2026-12-01"}}})])
    run(settings, "2026-11-28")


def test_the_published_warehouse_opens_in_older_duckdb(tmp_path: Path) -> None:
    """DuckDB 1.4 (the LTS line; pip's duckdb-cli) reads every table and view of it."""
    settings = make_settings(tmp_path)
    _one_day_of_calls(settings)
    assert storage_version_of(settings.layout.warehouse_path) == "v1.4.0+"
    counts = _read_with_older_duckdb(settings.layout.warehouse_path)
    assert counts == _counts(settings)
    assert counts["main.calls"] == 2 and counts["main.rejected_deliveries"] == 1


def test_a_warehouse_written_in_the_newest_format_is_converted_by_the_next_run(
        tmp_path: Path) -> None:
    newest = make_settings(tmp_path, duckdb_storage_version="latest")
    _one_day_of_calls(newest)
    assert storage_version_of(newest.layout.warehouse_path) == "v2.0.0+"
    before = _counts(newest)

    settings = make_settings(tmp_path)  # the default, as after upgrading osvi-pipeline
    run(settings, "2026-11-28")
    assert storage_version_of(settings.layout.pipeline_warehouse_path) == "v1.4.0+"
    assert storage_version_of(settings.layout.warehouse_path) == "v1.4.0+"
    after = _read_with_older_duckdb(settings.layout.warehouse_path)
    assert after == _counts(settings)

    def analysts(counts: dict[str, int]) -> dict[str, int]:  # not the run's bookkeeping
        return {name: rows for name, rows in counts.items() if name.startswith("main.")}
    assert analysts(after) == analysts(before)


def test_the_masked_warehouse_is_converted_too(tmp_path: Path) -> None:
    """OSVI_PII=mask publishes private copies holding masked tables: same format rule."""
    _one_day_of_calls(make_settings(tmp_path, pii="mask", duckdb_storage_version="latest"))
    settings = make_settings(tmp_path, pii="mask")
    [masked] = settings.layout.pipeline_warehouse_path.parent.glob("published-*.duckdb")
    assert storage_version_of(masked) == "v2.0.0+"
    run(settings, "2026-11-28")  # writes the other copy, seeded from this one
    assert storage_version_of(settings.layout.warehouse_path) == "v1.4.0+"
    run(settings, "2026-11-28")
    published = settings.layout.warehouse_path
    assert storage_version_of(masked) == storage_version_of(published) == "v1.4.0+"
    assert _read_with_older_duckdb(settings.layout.warehouse_path)["main.calls"] == 2
    assert query(settings, "select person_name from calls where person_name is not null") == [
        ("J***",)]
