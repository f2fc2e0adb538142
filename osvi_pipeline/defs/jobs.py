"""The job the sensor and the schedule launch: every asset, one daily partition per run."""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (  # no public alias
    UnresolvedAssetJobDefinition,
)

# The type define_asset_job returns; Dagster has no public name for it.
WarehouseJob = UnresolvedAssetJobDefinition


def build_warehouse_job() -> WarehouseJob:
    # Partitioned by the daily partitions of `deliveries` (Dagster infers it from the assets).
    return dg.define_asset_job(
        "warehouse_job", selection=dg.AssetSelection.all(),
        description="Loads one OSVI_TIMEZONE day of deliveries, rebuilds every table and "
                    "publishes the snapshot analysts read.",
        # With run_retries enabled in the shipped dagster.yaml: every step is idempotent, so
        # re-running from the failed one is safe.
        tags={"dagster/max_retries": "2"})
