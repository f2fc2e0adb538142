"""`data_capture` and `structured_output`: one row per call, one typed column per field."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from osvi_pipeline.defs.resources import WAREHOUSE_POOL, OsviOptions
from osvi_pipeline.warehouse.preview import markdown_table, preview
from osvi_pipeline.warehouse.wide_tables import build_wide_table


def build_wide_asset(section: str, long_table: str, sources: set[str]) -> dg.AssetsDefinition:
    @dg.asset(name=section, deps=[long_table], kinds={"duckdb"}, pool=WAREHOUSE_POOL,
              group_name="fields",
              description=f"One row per call that has {section}, one typed column per field "
                          "or leaf path (nested keys joined by __). Grain: call_log_id.")
    def wide_table(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                   osvi: OsviOptions) -> dg.MaterializeResult:  # type: ignore[type-arg]
        with duckdb.get_connection() as con:
            built = build_wide_table(con, section, sources)
            sample = preview(con, section, pii=osvi.pii_rules)
        conflicts = [c for c in built.columns if c.conflict]
        if conflicts:
            context.log.warning(f"{section}: {len(conflicts)} fields with conflicting types "
                                "were widened to VARCHAR")
        return dg.MaterializeResult(metadata={
            "rows": dg.MetadataValue.int(built.rows),
            "build": dg.MetadataValue.text("full" if built.full else "incremental"),
            "columns": dg.MetadataValue.int(len(built.columns)),
            "new_columns": dg.MetadataValue.json(built.new_columns),
            "type_conflicts": dg.MetadataValue.md(markdown_table(
                ["column", "path", "types seen"],
                [(c.name, c.path, ", ".join(c.observed)) for c in conflicts]) if conflicts
                else "none"),
            "condition_views": dg.MetadataValue.json(built.views),
            "preview": dg.MetadataValue.md(sample),
        })

    return wide_table

