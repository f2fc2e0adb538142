"""`warehouse_snapshot`: the read-only copy analysts open (see publish.py)."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from osvi_pipeline.publish import publish_snapshot
from osvi_pipeline.resources import WAREHOUSE_POOL, OsviOptions


def build_snapshot_asset(upstream: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(name="warehouse_snapshot", deps=upstream, kinds={"duckdb"}, pool=WAREHOUSE_POOL,
              group_name="warehouse",
              description="Publishes the pipeline's working DuckDB file at OSVI_WAREHOUSE "
                          "with an atomic rename, after every table is built.")
    def warehouse_snapshot(duckdb: DuckDBResource, osvi: OsviOptions
                           ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        with duckdb.get_connection() as con:
            con.execute("checkpoint")  # everything in the main file, nothing left in the WAL
        size = publish_snapshot(Path(duckdb.database), Path(osvi.published_warehouse))
        return dg.MaterializeResult(metadata={
            "path": dg.MetadataValue.path(osvi.published_warehouse),
            "bytes": dg.MetadataValue.int(size)})

    return warehouse_snapshot
