"""`warehouse_snapshot`: the read-only warehouse analysts open (see published_copy.py)."""

from pathlib import Path

import dagster as dg

from osvi_pipeline.defs.resources import WAREHOUSE_POOL, OsviOptions, WarehouseDuckDB
from osvi_pipeline.warehouse.change_log import TableScope, ensure_state, prune_changes, retire_table
from osvi_pipeline.warehouse.publish import link_published, upload_snapshot
from osvi_pipeline.warehouse.published_copy import (
    COPY_CATALOG,
    LEGACY_MASKED_FILE,
    attach_copy,
    choose_copy,
    record_copy_watermark,
    refresh_copy,
)

# Tables earlier versions built and this one does not: dropped before publishing, so analysts
# never read them stale. (section_leaves: the field tables now flatten their section directly.)
RETIRED_TABLES = ("section_leaves",)


def build_snapshot_asset(upstream: list[dg.AssetKey],
                         scopes: dict[str, TableScope]) -> dg.AssetsDefinition:
    """`scopes`: how each table changes, so the published copy takes only the changed rows."""

    @dg.asset(name="warehouse_snapshot", deps=upstream, kinds={"duckdb"}, pool=WAREHOUSE_POOL,
              group_name="publish",
              description="Publishes the warehouse at OSVI_WAREHOUSE with an atomic rename "
                          "after every table is built: a private copy brought up to date with "
                          "the run's changed rows (phone numbers and person names masked when "
                          "OSVI_PII=mask), uploaded to OSVI_PUBLISH_URL when set.")
    def warehouse_snapshot(duckdb: WarehouseDuckDB, osvi: OsviOptions
                           ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        published = Path(osvi.published_warehouse)
        working = Path(duckdb.database)
        working.with_name(LEGACY_MASKED_FILE).unlink(missing_ok=True)
        rules = osvi.pii_rules
        target = choose_copy(working, published)
        with duckdb.get_connection(masking=rules) as con:
            ensure_state(con)
            for table in RETIRED_TABLES:
                retire_table(con, table)
            prepared = attach_copy(con, target, working, duckdb.connection_config,
                                   keep_raw=rules is None)
            try:
                builds = refresh_copy(con, rules, scopes)
                record_copy_watermark(con, target.path)
                pruned = prune_changes(con, also=(COPY_CATALOG,))
                con.execute(f"checkpoint {COPY_CATALOG}")  # complete in its file, no WAL
            finally:
                con.execute(f"detach {COPY_CATALOG}")
        size = link_published(target.path, published)
        uploaded: dict[str, dg.MetadataValue] = {}
        if osvi.publish_url:  # the same (masked) file, for analysts on other machines
            upload_snapshot(published, osvi.publish_url)
            uploaded["published_url"] = dg.MetadataValue.url(osvi.publish_url)
        return dg.MaterializeResult(metadata={**uploaded,
            "path": dg.MetadataValue.path(osvi.published_warehouse),
            "bytes": dg.MetadataValue.int(size),
            "personal data": dg.MetadataValue.text("masked" if rules else "as received"),
            "copy": dg.MetadataValue.text(f"{target.path.name} ({prepared})"),
            # table -> 'incremental' (took only its changed rows) or 'full'
            "tables": dg.MetadataValue.json(builds),
            "change records pruned": dg.MetadataValue.int(pruned)})

    return warehouse_snapshot
