"""`landing_compaction`: a closed landing day's many small files merged into a few."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from osvi_pipeline.defs.jobs import MAINTENANCE_GROUP
from osvi_pipeline.defs.resources import WAREHOUSE_POOL, OsviOptions, WarehouseDuckDB
from osvi_pipeline.warehouse.landing_compaction import closed_days, compact_day


def build_compaction_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="landing_compaction", deps=["warehouse_snapshot"], partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(), kinds={"parquet"},
        pool=WAREHOUSE_POOL, group_name=MAINTENANCE_GROUP,
        description="Merges the small landing files of the closed UTC days under the "
                    "partitions (one a second and replica while the day was open) into a few "
                    "sorted by receipt time, once every load of the day has read them; the "
                    "loads' per-file watermark is moved to the new files. Runs with the daily "
                    "schedule and backfills, not with the sensor's micro-batches.")
    def landing_compaction(context: dg.AssetExecutionContext, duckdb: WarehouseDuckDB,
                           osvi: OsviOptions) -> dg.MaterializeResult:  # type: ignore[type-arg]
        window = context.partition_time_window
        store = osvi.landing
        scratch = Path(str(duckdb.connection_config.get("temp_directory", "."))) / "compaction"
        with duckdb.get_connection() as con:
            results = [compact_day(con, store, day, scratch)
                       for day in closed_days(window.start, window.end, datetime.now(UTC))]
        merged = [result for result in results if result.files_merged]
        for result in merged:
            context.log.info(f"landing {result.day}: {result.files_merged} files merged into "
                             f"{result.parts} ({result.rows} deliveries)")
        table = "\n".join([
            "| UTC day | files merged | parts | deliveries | bytes |", "|---|---:|---:|---:|---:|",
            *(f"| {r.day} | {r.files_merged} | {r.parts} | {r.rows} | {r.bytes_written} |"
              for r in merged)])
        return dg.MaterializeResult(metadata={
            "days_looked_at": dg.MetadataValue.int(len(results)),
            "days_compacted": dg.MetadataValue.int(len(merged)),
            "files_merged": dg.MetadataValue.int(sum(r.files_merged for r in merged)),
            "files_written": dg.MetadataValue.int(sum(r.parts for r in merged)),
            "interrupted_attempts_finished": dg.MetadataValue.int(
                sum(r.finished_earlier for r in results)),
            "preview": dg.MetadataValue.md(table if merged else "nothing to merge")})

    return landing_compaction
