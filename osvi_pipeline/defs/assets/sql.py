"""Turn each dbt_like_sql/<layer>/*.sql model into an asset that rebuilds its table and runs
the column tests its header declares, in the same step."""


from datetime import timedelta

import dagster as dg
from dagster_duckdb import DuckDBResource

from osvi_pipeline.defs.resources import WAREHOUSE_POOL, OsviOptions
from osvi_pipeline.lib.sql_models import SqlModel
from osvi_pipeline.warehouse.model_runner import build_sql_model
from osvi_pipeline.warehouse.model_tests import failing_rows
from osvi_pipeline.warehouse.preview import preview

# The marts analysts read every morning: stale after a missed daily run.
MART_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26),
                                                warn_window=timedelta(hours=25))


def build_sql_asset(model: SqlModel, known_tables: set[str],
                    sources: set[str]) -> dg.AssetsDefinition:
    """`sources`: every table upstream of the model (their full rebuilds force one here)."""
    deps = sorted(model.reads & known_tables)
    mart = model.group == "marts"
    checks = [dg.AssetCheckSpec(test.name, asset=model.name, blocking=True,
                                description=f"{test.kind.replace('_', ' ')}: {test.column} "
                                            "(declared in the model's header)")
              for test in model.tests]

    @dg.asset(name=model.name, deps=deps, description=model.description, kinds={"duckdb"},
              pool=WAREHOUSE_POOL, group_name=model.group, check_specs=checks,
              freshness_policy=MART_FRESHNESS if mart else None)
    def sql_model(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                  osvi: OsviOptions) -> dg.MaterializeResult:  # type: ignore[type-arg]
        with duckdb.get_connection() as con:
            con.execute("set variable campaign_keys = $keys", {"keys": osvi.campaign_keys})
            built = build_sql_model(con, model, sources, settings_key=repr(osvi.campaign_keys))
            sample = preview(con, model.name, pii=osvi.pii_rules)
            failing = {test: failing_rows(con, model.name, test) for test in model.tests}
        metadata = {"rows": dg.MetadataValue.int(built.rows),
                    "build": dg.MetadataValue.text("full" if built.full else "incremental"),
                    "preview": dg.MetadataValue.md(sample)}
        if built.changed_keys is not None:
            metadata[f"changed {model.incremental}s"] = dg.MetadataValue.int(built.changed_keys)
        return dg.MaterializeResult(metadata=metadata, check_results=[
            dg.AssetCheckResult(check_name=test.name, passed=rows == 0,
                                metadata={"failing_rows": rows})
            for test, rows in failing.items()])

    return sql_model
