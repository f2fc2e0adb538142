"""`warehouse_snapshot`: the read-only warehouse analysts open (see published_copy.py)."""

import time
from pathlib import Path

import dagster as dg

from osvi_pipeline.defs.resources import WAREHOUSE_POOL, OsviOptions, WarehouseDuckDB
from osvi_pipeline.warehouse.change_log import TableScope, ensure_state, prune_changes, retire_table
from osvi_pipeline.warehouse.erasure import write_erasures
from osvi_pipeline.warehouse.publish import link_published, upload_snapshot
from osvi_pipeline.warehouse.published_copy import (
    COPY_CATALOG,
    LEGACY_MASKED_FILE,
    attach_copy,
    carry_changes,
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
    def warehouse_snapshot(context: dg.AssetExecutionContext, duckdb: WarehouseDuckDB,
                           osvi: OsviOptions) -> dg.MaterializeResult:  # type: ignore[type-arg]
        published = Path(osvi.published_warehouse)
        working = Path(duckdb.database)
        working.with_name(LEGACY_MASKED_FILE).unlink(missing_ok=True)
        rules = osvi.pii_rules
        target = choose_copy(working, published)
        with duckdb.get_connection(masking=rules) as con:
            ensure_state(con)
            for table in RETIRED_TABLES:
                retire_table(con, table)
            write_erasures(con, osvi.erasures.tombstones())  # the ledger survives rebuilds
            prepared = attach_copy(con, target, working, duckdb.connection_config,
                                   keep_raw=rules is None)
            try:
                builds = refresh_copy(con, rules, scopes)
                carry_changes(con, prepared)  # what the export destinations take next
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
        context.log.info(run_summary(context, published))
        return dg.MaterializeResult(metadata={**uploaded,
            "path": dg.MetadataValue.path(osvi.published_warehouse),
            "bytes": dg.MetadataValue.int(size),
            "personal data": dg.MetadataValue.text("masked" if rules else "as received"),
            "copy": dg.MetadataValue.text(f"{target.path.name} ({prepared})"),
            # table -> 'incremental' (took only its changed rows) or 'full'
            "tables": dg.MetadataValue.json(builds),
            "change records pruned": dg.MetadataValue.int(pruned)})

    return warehouse_snapshot


def run_summary(context: dg.AssetExecutionContext, published: Path) -> str:
    """The run's one line at OSVI_LOG_LEVEL=info: its days, the deliveries it (or the run it
    retries) loaded, its seconds so far, where it published."""
    tags = context.run.tags
    first = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition")
    last = tags.get("dagster/asset_partition_range_end") or first
    days = f"{first}..{last}: " if first and last != first else (f"{first}: " if first else "")
    run_id = context.run.run_id
    runs = {run_id, tags.get("dagster/parent_run_id"), tags.get("dagster/root_run_id")}
    loaded = "no deliveries loaded"
    event = context.instance.get_latest_materialization_event(dg.AssetKey("deliveries"))
    if event is not None and event.run_id in runs and event.asset_materialization:
        rows = event.asset_materialization.metadata.get("rows")
        loaded = f"{rows.value if rows else '?'} deliveries loaded"
    retry = " (a retry)" if "dagster/parent_run_id" in tags else ""
    record = context.instance.get_run_record_by_id(run_id)
    started = record.start_time if record is not None else None
    took = f" in {time.time() - started:.1f} s" if started else ""
    return f"{context.job_name}{retry}: {days}{loaded}, published {published}{took}"
