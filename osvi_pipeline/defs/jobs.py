"""The jobs: `warehouse_job` (the schedule, backfills: every asset and check) and
`landing_job` (the landing sensor's micro-batches: the same assets, without the checks that
scan whole tables, which the schedule's run still makes every day)."""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (  # no public alias
    UnresolvedAssetJobDefinition,
)

from osvi_core.version import package_version
from osvi_pipeline.defs.assets.deliveries import ROWS_CHECK
from osvi_pipeline.defs.assets.report import DELIVERED

# The type define_asset_job returns; Dagster has no public name for it.
WarehouseJob = UnresolvedAssetJobDefinition
# The checks a micro-batch keeps, which scan nothing: the load's two counts compared, and the
# report's delivery (made with the report).
CHEAP_CHECKS = [dg.AssetCheckKey(dg.AssetKey("deliveries"), ROWS_CHECK),
                dg.AssetCheckKey(dg.AssetKey("daily_report"), DELIVERED)]
# With run_retries enabled in the shipped dagster.yaml: every step is idempotent, so re-running
# from the failed one is safe.
RETRIES = {"dagster/max_retries": "2"}
# Every run shows in the UI which osvi-pipeline made it (upgrades, support questions).
VERSION_TAG = "osvi/version"
WAREHOUSE_JOB, LANDING_JOB, EXPORT_JOB = "warehouse_job", "landing_job", "export_job"
COMPACTION_JOB = "landing_compaction_job"
# The export assets (defs/assets/export.py) run in export_job only: a destination that is slow
# or down never holds a run that loads and publishes.
EXPORT_GROUP = "export"
WAREHOUSE = dg.AssetSelection.all() - dg.AssetSelection.groups(EXPORT_GROUP)
# Upkeep of closed days (landing compaction): the daily run and backfills make it, the sensor's
# micro-batches (which load the open day) do not.
MAINTENANCE_GROUP = "maintenance"
MICRO_BATCH = WAREHOUSE - dg.AssetSelection.groups(MAINTENANCE_GROUP)


def run_tags() -> dict[str, str]:
    return {**RETRIES, VERSION_TAG: package_version()}


def console_config(osvi_log_level: str) -> dict[str, object]:
    """A run's console lines at OSVI_LOG_LEVEL: at `info`, a micro-batch prints its one
    summary line (warehouse_snapshot's) instead of ~30 step events; `debug` prints them all.
    The UI's event log keeps everything either way."""
    level = "DEBUG" if osvi_log_level == "debug" else osvi_log_level.upper()
    return {"loggers": {"console": {"config": {"log_level": level}}}}


def build_warehouse_job(log_level: str) -> WarehouseJob:
    # Partitioned by the daily partitions of `deliveries` (Dagster infers it from the assets).
    return dg.define_asset_job(
        WAREHOUSE_JOB, selection=WAREHOUSE, tags=run_tags(),
        config=console_config(log_level),
        description="Loads one OSVI_TIMEZONE day of deliveries, rebuilds every table, runs "
                    "every check and publishes the snapshot analysts read.")


def build_landing_job(log_level: str,
                      lag_checks: tuple[dg.AssetCheckKey, ...] = ()) -> WarehouseJob:
    """`lag_checks`: the export lag checks (cheap: a local file), kept in micro-batches."""
    return dg.define_asset_job(
        LANDING_JOB, tags=run_tags(), config=console_config(log_level),
        selection=(MICRO_BATCH.without_checks()
                   | dg.AssetSelection.checks(*CHEAP_CHECKS, *lag_checks)),
        description="The landing sensor's runs: appends the day's new landing files, updates "
                    "every table with their rows and publishes, in seconds. The checks that "
                    "scan whole tables (unique, not null, every delivery accounted for) run in "
                    "warehouse_job: the daily schedule's run, backfills, `osvi materialize`.")


def build_export_job(log_level: str) -> WarehouseJob:
    return dg.define_asset_job(
        EXPORT_JOB, selection=dg.AssetSelection.groups(EXPORT_GROUP), tags=run_tags(),
        config=console_config(log_level),
        description="Sends the published warehouse's changes to each OSVI_EXPORT_DESTINATIONS "
                    "destination (export_sensor starts it after each publication).")


def build_compaction_job(log_level: str) -> WarehouseJob:
    return dg.define_asset_job(
        COMPACTION_JOB, selection=dg.AssetSelection.groups(MAINTENANCE_GROUP),
        tags=run_tags(), config=console_config(log_level),
        description="Merges today's settled landing files (landing_compaction_schedule, "
                    "hourly), so the folder the sensor and every micro-batch list stays about "
                    "an hour of files.")
