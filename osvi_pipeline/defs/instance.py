"""The Dagster instance under $OSVI_DATA_DIR/dagster, with the shipped dagster.yaml."""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

import dagster as dg

from osvi_pipeline.lib.settings import Settings

SHIPPED_CONFIG = Path(__file__).with_name("dagster.yaml")


def dagster_home(settings: Settings) -> Path:
    home = (settings.data_dir / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHIPPED_CONFIG, home / "dagster.yaml")
    return home


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
