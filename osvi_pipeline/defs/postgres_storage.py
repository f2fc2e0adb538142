"""Dagster's PostgreSQL storages, holding their connections instead of opening one per query.

dagster-postgres builds its run, event-log and schedule storages on SQLAlchemy's NullPool
outside the webserver: every query opens a PostgreSQL session (a backend fork plus SCRAM
authentication, ~7 ms here on an idle machine) and closes it. A micro-batch run of
`landing_job` writes ~80 events and opened ~210 sessions, about 1 s of a 3 s run (issue 20;
upstream: dagster-io/dagster#20325, #33935). These subclasses keep a small pool per process
instead: a few connections per run worker and daemon, re-checked before use (a restarted
server or a dropped idle session costs one retry, not an error) and never shared with a forked
child. The shipped dagster.yaml names them when OSVI_DAGSTER_POSTGRES_URL is set; tables and
schema are Dagster's own, so an instance written by either storage reads the same.
"""

from __future__ import annotations

import os
import weakref
from typing import Any, Self, cast

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

# Every pooled engine of this process, weakly: a forked child must not use its parent's
# sockets (SQLAlchemy's recipe for pools), and an engine must not outlive its storage (a
# storage the code server builds for one sensor tick and drops would keep its sessions open).
_ENGINES: weakref.WeakSet[Any] = weakref.WeakSet()


def _forget_parent_connections() -> None:
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_parent_connections)


class _Pooled:
    """Swaps the NullPool engine the dagster-postgres storage built for a pooled one."""

    postgres_url: str
    _engine: Any
    _token_provider: Any

    def _use_pool(self) -> None:
        unpooled = self._engine
        self._engine = create_pg_engine(
            self.postgres_url, self._token_provider, isolation_level="AUTOCOMMIT",
            pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, pool_pre_ping=True)
        unpooled.dispose()
        _ENGINES.add(self._engine)

    def dispose(self) -> None:
        """Close the pool's sessions when Dagster is done with the storage (DagsterInstance's
        own dispose(), e.g. after each sensor evaluation in the code server)."""
        super().dispose()  # type: ignore[misc]
        self._engine.dispose()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Any) -> Self:
        # dagster-postgres builds its own class here, whichever subclass the config names.
        storage: Self = cast(Any, cls)(
            inst_data=inst_data, postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value))
        return storage


class PooledPostgresRunStorage(_Pooled, PostgresRunStorage):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._use_pool()


class PooledPostgresEventLogStorage(_Pooled, PostgresEventLogStorage):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._use_pool()


class PooledPostgresScheduleStorage(_Pooled, PostgresScheduleStorage):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._use_pool()
