"""`warehouse_snapshot`: the read-only copy analysts open (see publish.py)."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from osvi_pipeline.incremental import ensure_state, prune_changes
from osvi_pipeline.masking import TableScope, drop_masked, refresh_masked
from osvi_pipeline.publish import publish_masked_snapshot, publish_snapshot
from osvi_pipeline.resources import WAREHOUSE_POOL, OsviOptions


def build_snapshot_asset(upstream: list[dg.AssetKey],
                         scopes: dict[str, TableScope]) -> dg.AssetsDefinition:
    """`scopes`: how each table changes, so masked copies are refreshed incrementally."""

    @dg.asset(name="warehouse_snapshot", deps=upstream, kinds={"duckdb"}, pool=WAREHOUSE_POOL,
              group_name="warehouse",
              description="Publishes the pipeline's working DuckDB file at OSVI_WAREHOUSE "
                          "with an atomic rename, after every table is built (phone numbers "
                          "and person names masked when OSVI_PII=mask).")
    def warehouse_snapshot(duckdb: DuckDBResource, osvi: OsviOptions
                           ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        published = Path(osvi.published_warehouse)
        rules = osvi.pii_rules
        masked: dict[str, str] = {}
        with duckdb.get_connection() as con:
            ensure_state(con)
            if rules is None:
                drop_masked(con)
            else:
                masked = refresh_masked(con, rules, scopes)
            pruned = prune_changes(con)  # every model is past them
            if rules is None:
                con.execute("checkpoint")  # everything in the main file, nothing in the WAL
            else:
                size = publish_masked_snapshot(con, published)
        if rules is None:
            size = publish_snapshot(Path(duckdb.database), published)
        return dg.MaterializeResult(metadata={
            "path": dg.MetadataValue.path(osvi.published_warehouse),
            "bytes": dg.MetadataValue.int(size),
            "personal data": dg.MetadataValue.text("masked" if rules else "as received"),
            "masked copies": dg.MetadataValue.json(masked),
            "change records pruned": dg.MetadataValue.int(pruned)})

    return warehouse_snapshot
