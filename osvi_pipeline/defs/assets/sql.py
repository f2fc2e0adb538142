"""Each dbt_like_sql/<layer>/ folder as one step: a multi_asset whose tables stay their own
assets in the UI (own metadata, own checks), built in dependency order on one connection. A
step per table cost a run ~0.1 s of Dagster bookkeeping each, which a micro-batch of a few
seconds felt; a subset (one table chosen in the UI) builds only what was selected."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb as duckdb_api

from osvi_pipeline.defs.resources import WAREHOUSE_POOL, OsviOptions, WarehouseDuckDB
from osvi_pipeline.lib.sql_models import ColumnTest, SqlModel, in_build_order
from osvi_pipeline.warehouse.contracts import CONTRACT_MODEL, frozen_contracts, sync_contracts
from osvi_pipeline.warehouse.model_runner import build_sql_model
from osvi_pipeline.warehouse.model_tests import failing_rows
from osvi_pipeline.warehouse.preview import preview
from osvi_pipeline.warehouse.retention import RETAINED_MARTS, overlay_retained

# The marts analysts read every morning: stale after a missed daily run.
MART_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26),
                                                warn_window=timedelta(hours=25))


def build_layer_asset(layer: str, models: list[SqlModel], known_tables: set[str],
                      sources: dict[str, set[str]]) -> dg.AssetsDefinition:
    """`sources`: per model, every table upstream of it (their full rebuilds force one)."""
    ordered = in_build_order(models)
    specs = [dg.AssetSpec(model.name, deps=sorted(model.reads & known_tables),
                          description=model.description, kinds={"duckdb"}, group_name=layer,
                          # a table left out after a failed blocking check of its layer
                          skippable=True,
                          freshness_policy=MART_FRESHNESS if layer == "marts" else None)
             for model in ordered]
    checks = [dg.AssetCheckSpec(test.name, asset=model.name, blocking=True,
                                description=f"{test.kind.replace('_', ' ')}: {test.column} "
                                            "(declared in the model's header)")
              for model in ordered for test in model.tests]

    @dg.multi_asset(name=f"{layer}_models", specs=specs, check_specs=checks, can_subset=True,
                    pool=WAREHOUSE_POOL, description=f"The SQL models of dbt_like_sql/{layer}/.")
    def layer_models(context: dg.AssetExecutionContext, duckdb: WarehouseDuckDB,
                     osvi: OsviOptions) -> Iterator[dg.MaterializeResult]:  # type: ignore[type-arg]
        with duckdb.get_connection(masking=osvi.preview_rules) as con:
            con.execute("set variable campaign_keys = $keys", {"keys": osvi.campaign_keys})
            # schema_changes: a day smaller than this proves nothing (as for the flags).
            con.execute("set variable flag_min_day_count = $count",
                        {"count": osvi.flag_min_day_count})
            if dg.AssetKey(CONTRACT_MODEL) in context.selected_asset_keys:
                for integration, section in sync_contracts(
                        con, frozen_contracts(osvi.integrations_file), datetime.now(UTC)):
                    context.log.info(f"contract set: {integration}'s {section} is frozen")
            for model in ordered:
                key = dg.AssetKey(model.name)
                if key not in context.selected_asset_keys:
                    continue
                tests = [test for test in model.tests if dg.AssetCheckKey(key, test.name)
                         in context.selected_asset_check_keys]
                result = _build(con, model, sources[model.name], osvi, tests)
                yield result
                if any(not check.passed for check in result.check_results or ()):
                    return  # the step fails on it; what reads this table waits for a fix

    return layer_models


def _build(con: duckdb_api.DuckDBPyConnection, model: SqlModel, sources: set[str],
           osvi: OsviOptions, tests: list[ColumnTest]
           ) -> dg.MaterializeResult:  # type: ignore[type-arg]
    built = build_sql_model(con, model, sources, settings_key=repr(osvi.campaign_keys))
    if model.name in RETAINED_MARTS:  # its days before the retention horizon, as they were
        overlay_retained(con, model.name, Path(osvi.retained_dir))
    failing = {test: failing_rows(con, model.name, test) for test in tests}
    metadata = {"rows": dg.MetadataValue.int(built.rows),
                "build": dg.MetadataValue.text("full" if built.full else "incremental"),
                "preview": dg.MetadataValue.md(preview(con, model.name, pii=osvi.preview_rules))}
    if built.changed_keys is not None:
        metadata[f"changed {model.incremental}s"] = dg.MetadataValue.int(built.changed_keys)
    return dg.MaterializeResult(asset_key=model.name, metadata=metadata, check_results=[
        dg.AssetCheckResult(asset_key=model.name, check_name=test.name, passed=rows == 0,
                            metadata={"failing_rows": rows})
        for test, rows in failing.items()])
