"""`landing_compaction`: a closed landing day's many small files merged into a few."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from osvi_pipeline.defs.jobs import MAINTENANCE_GROUP
from osvi_pipeline.defs.resources import WAREHOUSE_POOL, OsviOptions, WarehouseDuckDB
from osvi_pipeline.warehouse.landing_compaction import compact, days_to_compact


def build_compaction_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="landing_compaction", deps=["warehouse_snapshot"], partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(), kinds={"parquet"},
        pool=WAREHOUSE_POOL, group_name=MAINTENANCE_GROUP,
        description="Merges the small landing files of the UTC days under the partitions "
                    "(one a second and replica while a day is open) into a few sorted by "
                    "receipt time, once every load of the day has read them; the loads' "
                    "per-file watermark is moved to the new files. A closed day's are merged "
                    "by the daily run and backfills; the open day's, once 1,000 have "
                    "gathered, by landing_compaction_schedule every hour. Never in the "
                    "sensor's micro-batches.")
    def landing_compaction(context: dg.AssetExecutionContext, duckdb: WarehouseDuckDB,
                           osvi: OsviOptions) -> dg.MaterializeResult:  # type: ignore[type-arg]
        window = context.partition_time_window
        store = osvi.landing
        scratch = Path(str(duckdb.connection_config.get("temp_directory", "."))) / "compaction"
        now = datetime.now(UTC)
        with duckdb.get_connection() as con:
            results = [compact(con, store, day, closed, scratch, now)
                       for day, closed in days_to_compact(window.start, window.end, now)]
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
