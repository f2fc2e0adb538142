"""The Dagster instance under $OSVI_DATA_DIR/dagster: the shipped dagster.yaml, plus its storage
on PostgreSQL when OSVI_DAGSTER_POSTGRES_URL is set (read from the environment by Dagster, never
written into the file)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import dagster as dg

from osvi_pipeline.lib.settings import Settings

SHIPPED_CONFIG = Path(__file__).with_name("dagster.yaml")
# The URL as SQLAlchemy must see it: dagster-postgres is built on psycopg2, while SQLAlchemy
# 2.1 drives a bare postgresql:// with psycopg 3 (absent, and some of Dagster's queries fail
# on it). Set from OSVI_DAGSTER_POSTGRES_URL in the environment the Dagster processes inherit.
DRIVER_URL_VARIABLE = "OSVI_DAGSTER_POSTGRES_DRIVER_URL"
_STORAGE_MODULE = "osvi_pipeline.defs.postgres_storage"
POSTGRES_STORAGE = f"""
# OSVI_DAGSTER_POSTGRES_URL is set: runs, events and schedules live in PostgreSQL, shared by
# the webservers, the daemon and the runs. Dagster reads the URL from the environment
# ({DRIVER_URL_VARIABLE}, which osvi derives from it); it is never written here. The storages
# are dagster-postgres's own, holding a few connections per process instead of opening one per
# query (osvi_pipeline/defs/postgres_storage.py).
""" + "".join(f"""{key}:
  module: {_STORAGE_MODULE}
  class: {class_name}
  config:
    postgres_url:
      env: {DRIVER_URL_VARIABLE}
""" for key, class_name in (("run_storage", "PooledPostgresRunStorage"),
                            ("event_log_storage", "PooledPostgresEventLogStorage"),
                            ("schedule_storage", "PooledPostgresScheduleStorage")))


def dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME with its dagster.yaml written; with PostgreSQL it also sets
    DRIVER_URL_VARIABLE in this process's environment, which the Dagster processes started
    from here inherit and an in-process instance reads."""
    home = (settings.data_dir / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = SHIPPED_CONFIG.read_text(encoding="utf-8")
    if settings.dagster_postgres_url:
        config += POSTGRES_STORAGE
        os.environ[DRIVER_URL_VARIABLE] = psycopg2_url(settings.dagster_postgres_url)
    target = home / "dagster.yaml"
    if not target.exists() or target.read_text(encoding="utf-8") != config:
        target.write_text(config, encoding="utf-8")
    return home


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
