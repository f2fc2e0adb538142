"""Turn each dbt_like_sql/*.sql model into an asset that rebuilds its table."""


from datetime import timedelta

import dagster as dg
from dagster_duckdb import DuckDBResource

from osvi_pipeline.preview import preview, quote_identifier
from osvi_pipeline.resources import WAREHOUSE_POOL, OsviOptions
from osvi_pipeline.sql_models import SqlModel

# The marts analysts read every morning: stale after a missed daily run.
MARTS = frozenset({"campaign_daily", "campaign_outcomes", "campaign_field_rates",
                   "daily_summary"})
MART_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26),
                                                warn_window=timedelta(hours=25))


def build_sql_asset(model: SqlModel, known_tables: set[str]) -> dg.AssetsDefinition:
    deps = sorted(model.reads & known_tables)
    mart = model.name in MARTS

    @dg.asset(name=model.name, deps=deps, description=model.description, kinds={"duckdb"},
              pool=WAREHOUSE_POOL, group_name="marts" if mart else "warehouse",
              freshness_policy=MART_FRESHNESS if mart else None)
    def sql_model(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                  osvi: OsviOptions) -> dg.MaterializeResult:  # type: ignore[type-arg]
        table = quote_identifier(model.name)
        with duckdb.get_connection() as con:
            con.execute("set variable campaign_keys = $keys", {"keys": osvi.campaign_keys})
            con.execute(f"create or replace table {table} as {model.sql}")
            rows = con.execute(f"select count(*) from {table}").fetchone()[0]
            sample = preview(con, model.name, pii=osvi.pii_rules)
        return dg.MaterializeResult(metadata={"rows": dg.MetadataValue.int(rows),
                                              "preview": dg.MetadataValue.md(sample)})

    return sql_model
