"""The Dagster instance osvi writes, on a real PostgreSQL (OSVI_DAGSTER_POSTGRES_URL) and on
SQLite files: its storages keep their connections instead of opening one per query, survive
PostgreSQL sessions being dropped, and read and write what Dagster's stock storages do."""

from __future__ import annotations

import gc
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
from sqlalchemy import event
from sqlalchemy.pool import Pool

from osvi_core.settings import Settings
from osvi_pipeline.definitions import build_definitions
from osvi_pipeline.runtime.instance import persistent_instance, psycopg2_url
from osvi_pipeline.runtime.instance_storage import (
    KeptSqliteEventLogStorage,
    KeptSqliteRunStorage,
    PooledPostgresEventLogStorage,
    PooledPostgresRunStorage,
    PooledPostgresScheduleStorage,
)
from osvi_testkit.postgres import create_database, postgres_server
from tests.support.config import make_settings
from tests.support.pipeline import delivery, land, query

DAY = "2026-11-28"


@pytest.fixture(scope="module")
def postgres() -> Iterator[tuple[str, int]]:
    with postgres_server() as server:
        yield server


def _pg_count(url: str, sql: str, database: str) -> int:
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        cursor.execute(sql, (database,))
        return int(cursor.fetchone()[0])


def _sessions_opened(url: str, database: str) -> int:
    return _pg_count(url, "select sessions from pg_stat_database where datname = %s", database)


def _open_sessions(url: str, database: str) -> int:
    return _pg_count(url, "select count(*) from pg_stat_activity where datname = %s "
                          "and pid <> pg_backend_pid()", database)


def _land_call(settings: Settings, call_id: str, hour: int) -> None:
    land(settings, [delivery(datetime(2026, 11, 28, hour, tzinfo=UTC),
                             {"call_log_id": call_id, "call_trigger_data": {"campaign": "x"}})])


def test_runs_reuse_their_connections_and_survive_dropped_sessions(
        tmp_path: Path, postgres: tuple[str, int]) -> None:
    url = create_database(*postgres, "osvi_pooled")
    settings = make_settings(tmp_path, dagster_postgres_url=url)
    instance = persistent_instance(settings)
    assert isinstance(instance.run_storage, PooledPostgresRunStorage)
    assert isinstance(instance.event_log_storage, PooledPostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PooledPostgresScheduleStorage)
    _land_call(settings, "pg-1", 9)
    landing_job = build_definitions(settings).resolve_job_def("landing_job")
    assert landing_job.execute_in_process(partition_key=DAY, instance=instance).success
    _land_call(settings, "pg-2", 10)
    before = _sessions_opened(url, "osvi_pooled")
    second = landing_job.execute_in_process(partition_key=DAY, instance=instance)
    assert second.success
    events = len(instance.all_logs(second.run_id))
    # dagster-postgres's own storages open a session per query: ~200 for this run's ~80 events.
    assert _sessions_opened(url, "osvi_pooled") - before <= 5 < events

    # The server drops every session (a restart, an idle timeout): the next run reconnects.
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        cursor.execute("select count(pg_terminate_backend(pid)) from pg_stat_activity "
                       "where datname = 'osvi_pooled' and pid <> pg_backend_pid()")
        assert cursor.fetchone()[0] >= 1
    _land_call(settings, "pg-3", 11)
    assert landing_job.execute_in_process(partition_key=DAY, instance=instance).success
    assert query(settings, "select count(*) from calls") == [(3,)]

    # Dagster's stock PostgreSQL storage reads the same instance.
    stock_home = tmp_path / "stock"
    stock_home.mkdir()
    (stock_home / "dagster.yaml").write_text(
        f"storage:\n  postgres:\n    postgres_url: {psycopg2_url(url)}\n", encoding="utf-8")
    with dg.DagsterInstance.from_config(str(stock_home)) as stock:
        assert len(stock.get_runs(dg.RunsFilter(job_name="landing_job"))) == 3
        assert stock.get_latest_materialization_event(dg.AssetKey("calls")) is not None


def test_instances_built_and_dropped_leave_no_sessions_open(
        tmp_path: Path, postgres: tuple[str, int]) -> None:
    """The code server builds an instance for every sensor tick (every few seconds) and drops
    it: its pooled sessions must close with it, disposed or only garbage-collected."""
    url = create_database(*postgres, "osvi_pool_lifetime")
    instance = persistent_instance(make_settings(tmp_path, dagster_postgres_url=url))
    ref = instance.get_ref()
    baseline = _open_sessions(url, "osvi_pool_lifetime")
    for _ in range(40):
        with dg.DagsterInstance.from_ref(ref) as tick:
            tick.get_runs(limit=1)
            tick.get_latest_materialization_event(dg.AssetKey("calls"))
    for _ in range(40):
        dropped = dg.DagsterInstance.from_ref(ref)
        dropped.get_runs(limit=1)
        del dropped
    gc.collect()
    assert _open_sessions(url, "osvi_pool_lifetime") <= baseline + 6


@contextmanager
def _sqlite_connections_opened() -> Iterator[Counter[str]]:
    """File name -> SQLite connections opened in this process meanwhile."""
    opened: Counter[str] = Counter()

    def count(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            path = dbapi_connection.execute("pragma database_list").fetchone()[2]
            opened[Path(path).name] += 1

    event.listen(Pool, "connect", count)
    try:
        yield opened
    finally:
        event.remove(Pool, "connect", count)


def test_sqlite_instance_keeps_its_connections_and_reads_a_stock_instance(
        tmp_path: Path) -> None:
    fresh = persistent_instance(make_settings(tmp_path / "fresh"))  # a new DAGSTER_HOME
    assert isinstance(fresh.event_log_storage, KeptSqliteEventLogStorage)
    assert fresh.get_runs() == []
    assert (tmp_path / "fresh/data/dagster/history/runs/index.db").exists()
    settings = make_settings(tmp_path)
    _land_call(settings, "lite-1", 9)
    landing_job = build_definitions(settings).resolve_job_def("landing_job")
    # An instance written by Dagster's stock SQLite storages (osvi before this change).
    home = tmp_path / "data" / "dagster"
    home.mkdir(parents=True)
    with dg.DagsterInstance.from_config(str(home)) as stock:
        assert landing_job.execute_in_process(partition_key=DAY, instance=stock).success

    instance = persistent_instance(settings)  # writes osvi's dagster.yaml over it
    assert isinstance(instance.run_storage, KeptSqliteRunStorage)
    assert isinstance(instance.event_log_storage, KeptSqliteEventLogStorage)
    assert len(instance.get_runs()) == 1, "the stock instance's run is still there"
    _land_call(settings, "lite-2", 10)
    assert landing_job.execute_in_process(partition_key=DAY, instance=instance).success
    _land_call(settings, "lite-3", 11)
    with _sqlite_connections_opened() as opened:
        third = landing_job.execute_in_process(partition_key=DAY, instance=instance)
    assert third.success
    # Stock storages open runs.db and index.db for every query and asset event (~140 a run).
    assert opened["runs.db"] + opened["index.db"] == 0, opened
    assert opened[f"{third.run_id}.db"] >= 1, "a run's own event file is written as stock"
    assert query(settings, "select count(*) from calls") == [(3,)]

    # Dagster's stock storages (no dagster.yaml) read what these wrote.
    stock_home = tmp_path / "stock-reader"
    stock_home.mkdir()
    for name in ("history", "schedules", "storage"):
        (stock_home / name).symlink_to(home / name)
    with dg.DagsterInstance.from_config(str(stock_home)) as stock:
        assert len(stock.get_runs(dg.RunsFilter(job_name="landing_job"))) == 3
        assert stock.get_latest_materialization_event(dg.AssetKey("calls")) is not None
