"""Turn each dbt_like_sql/*.sql model into an asset that rebuilds its table."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from osvi_pipeline.preview import preview, quote_identifier
from osvi_pipeline.resources import WAREHOUSE_POOL, OsviOptions
from osvi_pipeline.sql_models import SqlModel


def build_sql_asset(model: SqlModel, known_tables: set[str]) -> dg.AssetsDefinition:
    deps = sorted(model.reads & known_tables)

    @dg.asset(name=model.name, deps=deps, description=model.description, kinds={"duckdb"},
              pool=WAREHOUSE_POOL, group_name="warehouse")
    def sql_model(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                  osvi: OsviOptions) -> dg.MaterializeResult:  # type: ignore[type-arg]
        table = quote_identifier(model.name)
        with duckdb.get_connection() as con:
            con.execute("set variable campaign_keys = $keys", {"keys": osvi.campaign_keys})
            con.execute(f"create or replace table {table} as {model.sql}")
            rows = con.execute(f"select count(*) from {table}").fetchone()[0]
            sample = preview(con, model.name)
        return dg.MaterializeResult(metadata={"rows": dg.MetadataValue.int(rows),
                                              "preview": dg.MetadataValue.md(sample)})

    return sql_model
