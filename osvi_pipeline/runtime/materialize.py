"""Run the asset graph in-process for a range of days (`osvi materialize`, cron, tests)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg

from osvi_core.landing_store import landing_store_for
from osvi_core.settings import Settings
from osvi_pipeline.definitions import (
    build_assets,
    build_export_assets_if_any,
    build_lag_checks,
)
from osvi_pipeline.defs.checks.warehouse import WAREHOUSE_CHECKS
from osvi_pipeline.defs.jobs import CHEAP_CHECKS, MICRO_BATCH
from osvi_pipeline.defs.resources import build_resources
from osvi_pipeline.defs.tags import LOAD_TAG, NEW_FILES
from osvi_pipeline.lib.local_days import local_days_of_utc_day
from osvi_pipeline.warehouse.landing_files import first_partition_day

# Step-by-step DEBUG lines drown the progress bar; failures are still logged as errors.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def landed_day_range(settings: Settings) -> tuple[date, date] | None:
    """The OSVI_TIMEZONE days covered by landed data (landing is split by UTC day)."""
    days = landing_store_for(settings).days()
    if not days:
        return None
    first = local_days_of_utc_day(date.fromisoformat(days[0]), settings.timezone)[0]
    last = local_days_of_utc_day(date.fromisoformat(days[-1]), settings.timezone)[-1]
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    return max(first, first_partition_day(settings)), min(last, today)


def days_outside_partitions(settings: Settings, start: date, end: date) -> str | None:
    """Why [start, end] is not a range of the daily partitions, or None when it is.

    Dagster's in-process run would fail on a day before the first partition with a stack
    trace, and record a day that has not begun as materialized in the instance the UI shows.
    """
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    first_day = first_partition_day(settings)
    if start < first_day:
        origin = "OSVI_FIRST_DAY" if settings.first_day else "the earliest landed day"
        return f"{start} is before {first_day} ({origin}), the first day the pipeline has"
    if end > today:
        return f"{end} has not begun in OSVI_TIMEZONE ({settings.timezone}: today is {today})"
    return None


def materialize_days(settings: Settings, start: date, end: date,
                     on_step: Callable[[str], None] = lambda step: None,
                     instance: dg.DagsterInstance | None = None,
                     only_new_files: bool = False,
                     tags: dict[str, str] | None = None,
                     cheap_checks_only: bool = False) -> dg.ExecuteInProcessResult:
    """Load deliveries for [start, end] and rebuild every downstream table and check, in one
    run (a partition range for `deliveries`, the unpartitioned tables after it).

    `only_new_files`: append the landing files not loaded yet, as the sensor's runs do (else
    the window is replaced). `cheap_checks_only`: leave out the checks that scan whole tables,
    as the sensor's runs (landing_job) do. One Dagster run: a second run and instance cost
    ~1.5 s of every first run.
    """
    assets = build_assets(settings, first_partition_day(settings))
    on_step(f"deliveries {start}..{end}, then every table and check")
    lag_checks = build_lag_checks(settings)
    # Appending new files is what the sensor's micro-batches do: without the closed days' upkeep.
    selection: dg.AssetSelection = MICRO_BATCH if only_new_files else dg.AssetSelection.all()
    if cheap_checks_only:
        selection = (selection.without_checks() | dg.AssetSelection.checks(
            *CHEAP_CHECKS, *(key for check in lag_checks for key in check.check_keys)))
    return dg.materialize(
        [*assets, *WAREHOUSE_CHECKS, *lag_checks], selection=selection,
        resources=build_resources(settings), instance=instance,
        raise_on_error=False, run_config=QUIET,
        tags={"dagster/asset_partition_range_start": start.isoformat(),
              "dagster/asset_partition_range_end": end.isoformat(),
              **({LOAD_TAG: NEW_FILES} if only_new_files else {}), **(tags or {})},
    )


def export_now(settings: Settings, full: bool = False,
               instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult | None:
    """Send the published warehouse to every OSVI_EXPORT_DESTINATIONS destination in one run
    (`osvi export`, and `osvi materialize` after it publishes); None without destinations.
    `full`: every table replaced instead of its changed rows merged."""
    assets = build_export_assets_if_any(settings)
    if not assets:
        return None
    from osvi_pipeline.defs.assets.export import FULL_TAG

    return dg.materialize(assets, resources=build_resources(settings), instance=instance,
                          raise_on_error=False, run_config=QUIET,
                          tags={FULL_TAG: "true"} if full else None)


def publish_now(settings: Settings, instance: dg.DagsterInstance | None = None
                ) -> dg.ExecuteInProcessResult:
    """Only `warehouse_snapshot`: publish the working file as it is (`osvi forget`, after it
    rewrote the working file and removed both published copies, so the new copy is made anew)."""
    assets = build_assets(settings, first_partition_day(settings))
    return dg.materialize(assets, selection=[dg.AssetKey("warehouse_snapshot")],
                          resources=build_resources(settings), instance=instance,
                          raise_on_error=False, run_config=QUIET)
