"""`data_capture` and `structured_output`: one row per call, one typed column per field.

Both in one step (a multi_asset; each table its own asset in the UI), like a SQL layer."""

from collections.abc import Iterator

import dagster as dg

from osvi_pipeline.defs.resources import WAREHOUSE_POOL, OsviOptions, WarehouseDuckDB
from osvi_pipeline.warehouse.preview import markdown_table, preview
from osvi_pipeline.warehouse.wide_tables import build_wide_table


def build_wide_assets(long_tables: dict[str, str],
                      sources: dict[str, set[str]]) -> dg.AssetsDefinition:
    """`long_tables`: section -> the long table of its leaves, which it reads."""
    specs = [dg.AssetSpec(section, deps=[long_table], kinds={"duckdb"}, group_name="fields",
                          skippable=True,
                          description=f"One row per call that has {section}, one typed column "
                                      "per field or leaf path (nested keys joined by __). "
                                      "Grain: call_log_id.")
             for section, long_table in long_tables.items()]

    @dg.multi_asset(name="wide_tables", specs=specs, can_subset=True, pool=WAREHOUSE_POOL)
    def wide_tables(context: dg.AssetExecutionContext, duckdb: WarehouseDuckDB,
                    osvi: OsviOptions) -> Iterator[dg.MaterializeResult]:  # type: ignore[type-arg]
        with duckdb.get_connection(masking=osvi.preview_rules) as con:
            for section in long_tables:
                if dg.AssetKey(section) not in context.selected_asset_keys:
                    continue
                built = build_wide_table(con, section, sources[section])
                sample = preview(con, section, pii=osvi.preview_rules)
                conflicts = [c for c in built.columns if c.conflict]
                if conflicts:
                    context.log.warning(f"{section}: {len(conflicts)} fields with conflicting "
                                        "types were widened to VARCHAR")
                yield dg.MaterializeResult(asset_key=section, metadata={
                    "rows": dg.MetadataValue.int(built.rows),
                    "build": dg.MetadataValue.text("full" if built.full else "incremental"),
                    "columns": dg.MetadataValue.int(len(built.columns)),
                    "new_columns": dg.MetadataValue.json(built.new_columns),
                    "type_conflicts": dg.MetadataValue.md(markdown_table(
                        ["column", "path", "types seen"],
                        [(c.name, c.path, ", ".join(c.observed)) for c in conflicts])
                        if conflicts else "none"),
                    "condition_views": dg.MetadataValue.json(built.views),
                    "preview": dg.MetadataValue.md(sample),
                })

    return wide_tables
