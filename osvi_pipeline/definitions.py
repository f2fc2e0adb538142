"""The Dagster code location (`dagster dev -w workspace.yaml`, `-m osvi_pipeline.definitions`):
every asset, check, job, sensor, schedule and resource, assembled in one place.

Settings are read when Dagster loads the location (`defs` below), not when this module is
imported: `osvi materialize` builds the same assets from its own settings.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from osvi_core.settings import Settings, load_settings
from osvi_core.version import package_version
from osvi_pipeline.defs.assets.alerts import extraction_alerts
from osvi_pipeline.defs.assets.deliveries import build_deliveries_asset
from osvi_pipeline.defs.assets.flags import campaign_flags
from osvi_pipeline.defs.assets.landing import build_compaction_asset
from osvi_pipeline.defs.assets.report import daily_report
from osvi_pipeline.defs.assets.snapshot import build_snapshot_asset
from osvi_pipeline.defs.assets.sql import build_layer_asset
from osvi_pipeline.defs.assets.wide import build_wide_assets
from osvi_pipeline.defs.checks.export import build_lag_check
from osvi_pipeline.defs.checks.warehouse import WAREHOUSE_CHECKS
from osvi_pipeline.defs.jobs import (
    build_compaction_job,
    build_export_job,
    build_landing_job,
    build_warehouse_job,
)
from osvi_pipeline.defs.partitions import daily_partitions
from osvi_pipeline.defs.resources import build_resources
from osvi_pipeline.defs.schedules.compaction import build_compaction_schedule
from osvi_pipeline.defs.schedules.daily import build_daily_schedule
from osvi_pipeline.defs.sensors.export import build_export_sensor
from osvi_pipeline.defs.sensors.landing import build_landing_sensor
from osvi_pipeline.lib.notify_targets import parse_targets
from osvi_pipeline.lib.sql_models import LAYERS, load_models, upstream
from osvi_pipeline.warehouse.change_log import TableScope
from osvi_pipeline.warehouse.landing_files import first_partition_day
from osvi_pipeline.warehouse.wide_tables import LONG_TABLES, WIDE_TABLES


def table_scopes() -> dict[str, TableScope]:
    """How each warehouse table changes (its key, the tables upstream of it): the published
    copy and the export take only changed rows by it."""
    models = load_models()
    known = {"deliveries", *WIDE_TABLES, *(model.name for model in models)}
    reads = {model.name: model.reads & known for model in models}
    # A wide table reads its long table (LONG_TABLES) and, through it, everything upstream.
    wide_sources = {section: upstream(LONG_TABLES[section][0], reads) | {LONG_TABLES[section][0]}
                    for section in WIDE_TABLES}
    return {"deliveries": TableScope("delivery_id", frozenset()),
            **{model.name: TableScope(model.incremental,
                                      frozenset(upstream(model.name, reads)))
               for model in models},
            **{section: TableScope("call_log_id", frozenset(wide_sources[section]))
               for section in WIDE_TABLES}}


def build_assets(settings: Settings, first_day: date) -> list[dg.AssetsDefinition]:
    models = load_models()
    known = {"deliveries", *WIDE_TABLES, *(model.name for model in models)}
    scopes = table_scopes()
    sources = {model.name: set(scopes[model.name].sources) for model in models}
    long_tables = {section: LONG_TABLES[section][0] for section in WIDE_TABLES}
    wide_sources = {section: set(scopes[section].sources) for section in WIDE_TABLES}
    layers = [[model for model in models if model.group == layer] for layer in LAYERS]
    partitions = daily_partitions(settings.timezone, first_day)
    tables = [
        build_deliveries_asset(partitions),
        *(build_layer_asset(layer[0].group, layer, known, sources) for layer in layers if layer),
        build_wide_assets(long_tables, wide_sources),
        campaign_flags,
    ]
    snapshot = build_snapshot_asset([key for asset in tables for key in asset.keys], scopes)
    return [*tables, snapshot, daily_report, extraction_alerts, build_compaction_asset(partitions)]


def build_lag_checks(settings: Settings) -> list[dg.AssetChecksDefinition]:
    """One per export destination, evaluated by the warehouse's runs."""
    return [build_lag_check(destination, settings.layout.export_dir,
                            settings.export_max_lag_minutes)
            for destination in settings.export_destination_list]


def build_export_assets_if_any(settings: Settings) -> list[dg.AssetsDefinition]:
    """The export assets, when OSVI_EXPORT_DESTINATIONS names any; a destination's missing key
    fails the load, named. dlt and dagster-dlt are imported only then: ~0.35 s that every run
    worker (each micro-batch) would pay otherwise."""
    if not settings.export_destination_list:
        return []
    from osvi_pipeline.defs.assets.export import build_export_assets, check_destinations
    from osvi_pipeline.warehouse.export import ExportConfigError

    errors = check_destinations(settings)
    if errors:
        raise ExportConfigError("\n".join(errors))
    return build_export_assets(settings, table_scopes())


def build_definitions(settings: Settings) -> dg.Definitions:
    parse_targets(settings.notify_urls)  # a malformed URL fails the load, named safely
    lag_checks = build_lag_checks(settings)
    job = build_warehouse_job(settings.log_level)
    micro_batches = build_landing_job(settings.log_level, tuple(
        key for check in lag_checks for key in check.check_keys))
    exports = build_export_job(settings.log_level)
    compaction = build_compaction_job(settings.log_level)
    first_day = first_partition_day(settings)
    export_assets = build_export_assets_if_any(settings)
    return dg.Definitions(
        assets=[*build_assets(settings, first_day), *export_assets],
        asset_checks=[*WAREHOUSE_CHECKS, *lag_checks],
        jobs=[job, micro_batches, compaction, *([exports] if export_assets else [])],
        sensors=[build_landing_sensor(micro_batches, first_day,
                                      settings.sensor_interval_seconds),
                 *([build_export_sensor(exports, settings.sensor_interval_seconds)]
                   if export_assets else [])],
        schedules=[build_daily_schedule(job, settings.timezone, first_day),
                   build_compaction_schedule(compaction, settings.timezone, first_day)],
        resources=build_resources(settings),
        # Every step writes the one DuckDB file (pool limit 1), so steps never run in parallel;
        # a process per step only added a Dagster start-up each (a 65 s run became ~20 s).
        executor=dg.in_process_executor,
        metadata={"osvi-pipeline version": dg.MetadataValue.text(package_version())},
    )



@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_settings())
