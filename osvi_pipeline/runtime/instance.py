"""The Dagster instance under $OSVI_DATA_DIR/dagster: the shipped dagster.yaml, plus its storage
on PostgreSQL when OSVI_DAGSTER_POSTGRES_URL is set (read from the environment by Dagster, never
written into the file)."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import dagster as dg

from osvi_core.settings import Settings
from osvi_pipeline.runtime.instance_storage import (
    KeptSqliteEventLogStorage,
    KeptSqliteRunStorage,
    KeptSqliteScheduleStorage,
    PooledPostgresEventLogStorage,
    PooledPostgresRunStorage,
    PooledPostgresScheduleStorage,
)

SHIPPED_CONFIG = Path(__file__).with_name("dagster.yaml")
# The URL as SQLAlchemy must see it: dagster-postgres is built on psycopg2, while SQLAlchemy
# 2.1 drives a bare postgresql:// with psycopg 3 (absent, and some of Dagster's queries fail
# on it). Set from OSVI_DAGSTER_POSTGRES_URL in the environment the Dagster processes inherit.
DRIVER_URL_VARIABLE = "OSVI_DAGSTER_POSTGRES_DRIVER_URL"
_STORAGE_KEYS = ("run_storage", "event_log_storage", "schedule_storage")


def _storages(classes: tuple[type, type, type], configs: tuple[str, str, str]) -> str:
    """Dagster's per-storage configuration, naming the classes in instance_storage.py (which
    keep their connections; same tables and files as Dagster's stock storages)."""
    return "".join(f"{key}:\n  module: {cls.__module__}\n  class: {cls.__qualname__}\n"
                   f"  config:\n{config}"
                   for key, cls, config in zip(_STORAGE_KEYS, classes, configs, strict=True))


def postgres_storage() -> str:
    url = f"    postgres_url:\n      env: {DRIVER_URL_VARIABLE}\n"
    return (
        "# OSVI_DAGSTER_POSTGRES_URL is set: runs, events and schedules live in PostgreSQL,\n"
        "# shared by the webservers, the daemon and the runs. Dagster reads the URL from the\n"
        f"# environment ({DRIVER_URL_VARIABLE}, which osvi derives from it); it is never\n"
        "# written here.\n"
        + _storages((PooledPostgresRunStorage, PooledPostgresEventLogStorage,
                     PooledPostgresScheduleStorage), (url, url, url)))


def sqlite_storage(home: Path) -> str:
    """SQLite files where Dagster's default puts them, so an existing instance keeps its runs."""
    runs, events, schedules = (f"    base_dir: {json.dumps(str(home / sub))}\n"  # YAML-quoted
                               for sub in ("history", "history/runs", "schedules"))
    return (
        "# Runs, events and schedules in SQLite files under this directory (Dagster's layout).\n"
        + _storages((KeptSqliteRunStorage, KeptSqliteEventLogStorage, KeptSqliteScheduleStorage),
                    (runs, events, schedules)))


class InstanceMismatch(Exception):
    """The instance keeps its runs in PostgreSQL but this process has no URL for it."""


def dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME with its dagster.yaml written; with PostgreSQL it also sets
    DRIVER_URL_VARIABLE in this process's environment, which the Dagster processes started
    from here inherit and an in-process instance reads.

    An instance once on PostgreSQL stays there: a command started without the production
    environment (`osvi materialize` in a login shell) would otherwise quietly record its runs
    in a new SQLite history, in UTC days, and rewrite dagster.yaml for every other process.
    """
    home = settings.layout.dagster_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not settings.dagster_postgres_url and _on_postgres(target):
        raise InstanceMismatch(
            f"this data dir's Dagster instance ({target}) keeps its runs in PostgreSQL, but "
            "OSVI_DAGSTER_POSTGRES_URL is not set: the command was started without the "
            "production environment. Run it as `osvi --env-file /etc/osvi/osvi.env ...` (the "
            "file the systemd units read), or to leave PostgreSQL on purpose, delete that "
            "dagster.yaml first")
    config = SHIPPED_CONFIG.read_text(encoding="utf-8")
    if settings.dagster_postgres_url:
        config += postgres_storage()
        os.environ[DRIVER_URL_VARIABLE] = psycopg2_url(settings.dagster_postgres_url)
    else:
        config += sqlite_storage(home)
    if not target.exists() or target.read_text(encoding="utf-8") != config:
        target.write_text(config, encoding="utf-8")
    return home


def _on_postgres(config: Path) -> bool:
    try:
        return f"env: {DRIVER_URL_VARIABLE}" in config.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False


def psycopg2_url(url: str) -> str:
    """postgresql://... or postgres://... as postgresql+psycopg2://..."""
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg2://{rest}" if scheme in ("postgresql", "postgres") else url


def persistent_instance(settings: Settings) -> dg.DagsterInstance:
    """Runs recorded here show up in the Dagster UI of `osvi up`.

    Two processes opening a new DAGSTER_HOME at once race to create its SQLite tables; the
    lock makes the first one create them while the other waits.
    """
    home = dagster_home(settings)
    with open(home / ".instance.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        instance = dg.DagsterInstance.from_config(str(home))
        instance.get_runs(limit=1)  # touches (and so creates) the run and event storage
        instance.get_latest_materialization_event(dg.AssetKey("deliveries"))
    return instance
