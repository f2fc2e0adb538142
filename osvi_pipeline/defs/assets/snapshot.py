"""`warehouse_snapshot`: the read-only copy analysts open (see publish.py)."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from osvi_pipeline.defs.resources import WAREHOUSE_POOL, OsviOptions
from osvi_pipeline.lib.sql_names import sql_text
from osvi_pipeline.warehouse.change_log import TableScope, ensure_state, prune_changes, retire_table
from osvi_pipeline.warehouse.masking import refresh_masked
from osvi_pipeline.warehouse.publish import publish_snapshot, upload_snapshot
from osvi_pipeline.warehouse.storage_format import convert_if_newer

# OSVI_PII=mask: the masked copy of every table, kept up to date run by run and published by a
# plain file copy like the working file.
MASKED_FILE = "masked.duckdb"
MASKED_CATALOG = "osvi_masked"
# Tables earlier versions built and this one does not: dropped before publishing, so analysts
# never read them stale. (section_leaves: the field tables now flatten their section directly.)
RETIRED_TABLES = ("section_leaves",)


def _remove(database: Path) -> None:
    database.unlink(missing_ok=True)
    Path(f"{database}.wal").unlink(missing_ok=True)


def build_snapshot_asset(upstream: list[dg.AssetKey],
                         scopes: dict[str, TableScope]) -> dg.AssetsDefinition:
    """`scopes`: how each table changes, so masked copies are refreshed incrementally."""

    @dg.asset(name="warehouse_snapshot", deps=upstream, kinds={"duckdb"}, pool=WAREHOUSE_POOL,
              group_name="publish",
              description="Publishes the pipeline's working DuckDB file at OSVI_WAREHOUSE "
                          "with an atomic rename, after every table is built (phone numbers "
                          "and person names masked when OSVI_PII=mask), and uploads it to "
                          "OSVI_PUBLISH_URL when set.")
    def warehouse_snapshot(duckdb: DuckDBResource, osvi: OsviOptions
                           ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        published = Path(osvi.published_warehouse)
        working = Path(duckdb.database)
        masked_file = working.with_name(MASKED_FILE)  # private, next to the working file
        rules = osvi.pii_rules
        masked: dict[str, str] = {}
        with duckdb.get_connection() as con:
            ensure_state(con)
            for table in RETIRED_TABLES:
                retire_table(con, table)
            if rules is None:
                _remove(masked_file)  # back to OSVI_PII=keep: its watermarks must not linger
                pruned = prune_changes(con)
                con.execute("checkpoint")  # everything in the main file, nothing in the WAL
            else:
                convert_if_newer(masked_file, duckdb.connection_config)
                con.execute(f"attach {sql_text(str(masked_file))} as {MASKED_CATALOG}")
                try:
                    masked = refresh_masked(con, rules, scopes, MASKED_CATALOG)
                    pruned = prune_changes(con, also=(MASKED_CATALOG,))
                    con.execute(f"checkpoint {MASKED_CATALOG}")
                finally:
                    con.execute(f"detach {MASKED_CATALOG}")
        size = publish_snapshot(working if rules is None else masked_file, published)
        uploaded: dict[str, dg.MetadataValue] = {}
        if osvi.publish_url:  # the same (masked) file, for analysts on other machines
            upload_snapshot(published, osvi.publish_url)
            uploaded["published_url"] = dg.MetadataValue.url(osvi.publish_url)
        return dg.MaterializeResult(metadata={**uploaded,
            "path": dg.MetadataValue.path(osvi.published_warehouse),
            "bytes": dg.MetadataValue.int(size),
            "personal data": dg.MetadataValue.text("masked" if rules else "as received"),
            "masked copies": dg.MetadataValue.json(masked),
            "change records pruned": dg.MetadataValue.int(pruned)})

    return warehouse_snapshot
