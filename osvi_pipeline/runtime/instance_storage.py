"""Dagster's instance storages, keeping their database connections instead of opening one per
query.

Dagster's stock storages connect afresh for every query and event (SQLAlchemy's NullPool; for
SQLite a new engine each time, and closing a WAL database's last connection checkpoints it).
A micro-batch run of `landing_job` stores ~80 events: on PostgreSQL that opened ~210 sessions
(a backend fork plus SCRAM authentication each, ~7 ms on an idle machine here: about 1 s of a
3 s run); on SQLite ~240 connections (~0.3-0.5 s of a 2 s run). Issue 20 (seconds to freshness);
upstream: dagster-io/dagster#20325, #33935.

These subclasses change only that: the same tables, files and schema (an instance written
through them reads the same with Dagster's stock configuration), each engine kept for the
storage's life and closed with it, re-checked before use on PostgreSQL (a restarted server or
a dropped idle session costs a reconnect, not an error), never used by a forked child.
SQLite's per-run event files keep Dagster's own connect-per-write: the UI follows a live run
by watching that file change, which a kept WAL connection would delay until a checkpoint.
`instance.py` names these classes in the dagster.yaml osvi writes.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self, cast

import sqlalchemy
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, create_db_conn_string
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

# Connections kept open per storage and process; more are opened (and closed after use) when
# several threads query at once, as the daemon's do, up to the overflow.
POOL_SIZE = 2
MAX_OVERFLOW = 20

# Every kept engine of this process, weakly: a forked child must not use its parent's
# connections (SQLAlchemy's recipe for pools), and an engine must not outlive its storage (a
# storage the code server builds for one sensor tick and drops would keep its sessions open).
_ENGINES: weakref.WeakSet[sqlalchemy.Engine] = weakref.WeakSet()


def _forget_parent_connections() -> None:
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_parent_connections)


def _kept(engine: sqlalchemy.Engine) -> sqlalchemy.Engine:
    _ENGINES.add(engine)
    return engine


def _sqlite_engine(conn_string: str) -> sqlalchemy.Engine:
    # Threads take turns with a connection (the pool hands each to one at a time).
    return _kept(sqlalchemy.create_engine(
        conn_string, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False}))


class _PooledPostgres:
    """Swaps the NullPool engine the dagster-postgres storage built for a pooled one."""

    postgres_url: str
    _engine: Any
    _token_provider: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        unpooled = self._engine
        self._engine = _kept(create_pg_engine(
            self.postgres_url, self._token_provider, isolation_level="AUTOCOMMIT",
            pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, pool_pre_ping=True))
        unpooled.dispose()

    def dispose(self) -> None:
        """Close the pool's sessions when Dagster is done with the storage (DagsterInstance's
        own dispose(), e.g. after each sensor evaluation in the code server)."""
        super().dispose()  # type: ignore[misc]
        self._engine.dispose()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Any) -> Self:
        # dagster-postgres's from_config_value builds its own class, whichever subclass is
        # named.
        storage: Self = cast(Any, cls)(
            inst_data=inst_data, postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value))
        return storage


class PooledPostgresRunStorage(_PooledPostgres, PostgresRunStorage):
    pass


class PooledPostgresEventLogStorage(_PooledPostgres, PostgresEventLogStorage):
    pass


class PooledPostgresScheduleStorage(_PooledPostgres, PostgresScheduleStorage):
    pass


class _KeptSqlite:
    """connect() on one engine kept for the storage's life (runs.db, schedules.db)."""

    def __init__(self, conn_string: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(conn_string, inst_data)  # type: ignore[call-arg]
        self._kept_engine = _sqlite_engine(conn_string)

    @contextmanager
    def connect(self) -> Iterator[sqlalchemy.Connection]:
        with self._kept_engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]
        self._kept_engine.dispose()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Any) -> Self:
        # Dagster's from_config_value builds its own class, whichever subclass is named.
        storage: Self = cast(Any, cls).from_local(inst_data=inst_data, **config_value)
        return storage


class KeptSqliteRunStorage(_KeptSqlite, SqliteRunStorage):
    pass


class KeptSqliteScheduleStorage(_KeptSqlite, SqliteScheduleStorage):
    pass


class KeptSqliteEventLogStorage(SqliteEventLogStorage):
    """The cross-run index (index.db, written for every asset and check event) on a kept
    engine; each run's own event file as Dagster does it (see the module's docstring)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        # Before Dagster's __init__, which indexes a new directory through _connect.
        self._index_engine = _sqlite_engine(create_db_conn_string(base_dir, INDEX_SHARD_NAME))
        super().__init__(base_dir, inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sqlalchemy.Connection]:
        if shard != INDEX_SHARD_NAME:
            with super()._connect(shard) as conn:
                yield conn
            return
        with self._db_lock:
            if shard not in self._initialized_dbs:
                self._initdb(self._index_engine)
                self._initialized_dbs.add(shard)
            with self._index_engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        # Asked for every asset check event; Dagster's own opens a new engine each time. Not
        # under _db_lock, as Dagster's is not (it may be asked while the lock is held).
        with self._index_engine.connect() as conn:
            return bool(conn.dialect.has_table(conn, table_name))

    def dispose(self) -> None:
        super().dispose()
        self._index_engine.dispose()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Any) -> Self:
        return cls(inst_data=inst_data, **config_value)
