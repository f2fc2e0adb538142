"""`deliveries`: the landing rows of each OSVI_TIMEZONE day, loaded idempotently."""

from pathlib import Path

import dagster as dg

from osvi_pipeline.defs.resources import WAREHOUSE_POOL, OsviOptions, WarehouseDuckDB
from osvi_pipeline.defs.tags import LOAD_TAG, NEW_FILES, RETENTION_TAG
from osvi_pipeline.warehouse.deliveries import files_already_loaded, load_window
from osvi_pipeline.warehouse.erasure import sweep_landing
from osvi_pipeline.warehouse.landing_files import (
    files_for_window,
    inspect_landing_files,
    register_landing,
)
from osvi_pipeline.warehouse.retention import apply_retention, plan_retention

ROWS_CHECK = "landing_rows_equal_deliveries"  # landing rows = loaded rows, from the load's counts


def build_deliveries_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="deliveries",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),  # a backfill is one run, one load
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        group_name="staging",
        description="One row per stored delivery (the landing columns plus received_day, the "
                    "OSVI_TIMEZONE day). Grain: delivery.",
        check_specs=[dg.AssetCheckSpec(ROWS_CHECK, asset="deliveries",
                                       description="Every landing row of the window is loaded, "
                                                   "once.")],
    )
    def deliveries(context: dg.AssetExecutionContext, duckdb: WarehouseDuckDB,
                   osvi: OsviOptions) -> dg.MaterializeResult:  # type: ignore[type-arg]
        window = context.partition_time_window
        store = osvi.landing
        listed = files_for_window(store, window.start, window.end)
        only_new = context.run.tags.get(LOAD_TAG) == NEW_FILES
        integrations = Path(osvi.integrations_file) if osvi.integrations_file else None
        with duckdb.get_connection() as con:
            skip = files_already_loaded(con, window.start, window.end, listed) if only_new \
                else set()
            landing = inspect_landing_files([file for file in listed if file not in skip],
                                            store)
            register_landing(con, store)
            load = load_window(con, landing, window.start, window.end, osvi.timezone,
                               integrations, already_loaded=skip, erasures=osvi.erasures)
            swept = sweep_landing(con, store, load.erased)
            retention = None
            if osvi.retention_days and context.run.tags.get(RETENTION_TAG) == "true":
                retention = plan_retention(con, store, osvi.retention_days)
                apply_retention(con, store, retention, Path(osvi.retained_dir))
        if retention is not None and (retention.deliveries or retention.landing_files):
            context.log.info(f"retention ({osvi.retention_days} days): deleted "
                             f"{retention.deliveries} deliveries of {retention.calls} calls "
                             f"and {len(retention.landing_files)} landing files received "
                             f"before {retention.cutoff}")
        if swept:
            context.log.info(f"{sum(r.removed for r in swept)} deliveries of erased people "
                             f"(osvi forget) swept from {len(swept)} landing files")
        for moved in landing.quarantined:
            context.log.warning(f"landing file moved to {moved['file']}: {moved['reason']}")
        if landing.ignored_columns:
            context.log.info(f"landing columns ignored: {sorted(landing.ignored_columns)}")
        if load.relabeled:
            context.log.warning(f"OSVI_TIMEZONE is {osvi.timezone} now: {load.relabeled} "
                                "deliveries loaded under another zone moved to their day in it")
        days = context.partition_key_range  # inclusive, unlike the window's end
        context.log.debug(f"{load.loaded} deliveries for {days.start}"
                         + ("" if days.start == days.end else f"..{days.end}")
                         + (f" ({load.new_files} new landing files appended)"
                            if load.incremental else ""))
        return dg.MaterializeResult(
            metadata={"rows": dg.MetadataValue.int(load.loaded),
                      "landing_files": dg.MetadataValue.int(len(listed)),
                      "landing_files_read": dg.MetadataValue.int(load.new_files),
                      "load": dg.MetadataValue.text("new files appended" if load.incremental
                                                    else "window replaced"),
                      "quarantined_files": dg.MetadataValue.json(landing.quarantined),
                      "ignored_landing_columns": dg.MetadataValue.json(landing.ignored_columns),
                      "relabeled_for_timezone": dg.MetadataValue.int(load.relabeled),
                      "ambiguous_template_slots": dg.MetadataValue.json(load.ambiguous)},
            check_results=[dg.AssetCheckResult(
                check_name=ROWS_CHECK, passed=load.loaded == load.landed,
                metadata={"landing_rows": load.landed, "deliveries_rows": load.loaded})],
        )

    return deliveries
