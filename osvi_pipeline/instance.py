"""The Dagster instance under $OSVI_DATA_DIR/dagster, with the shipped dagster.yaml."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg

from osvi_pipeline.settings import Settings

SHIPPED_CONFIG = Path(__file__).with_name("dagster.yaml")


def dagster_home(settings: Settings) -> Path:
    home = (settings.data_dir / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHIPPED_CONFIG, home / "dagster.yaml")
    return home


def persistent_instance(settings: Settings) -> dg.DagsterInstance:
    """Runs recorded here show up in the Dagster UI of `osvi up`."""
    return dg.DagsterInstance.from_config(str(dagster_home(settings)))
