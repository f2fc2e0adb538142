"""Export assets: one per exported table and OSVI_EXPORT_DESTINATIONS destination, built with
dagster-dlt (rows loaded, load id and schema changes in the UI). They run in `export_job`,
started by `export_sensor` when a publication lands (or by `osvi export` / `osvi materialize`),
in their own pool: a slow or failing destination never holds the warehouse's runs."""


import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from osvi_core.settings import Settings
from osvi_pipeline.defs.jobs import EXPORT_GROUP
from osvi_pipeline.warehouse.change_log import TableScope
from osvi_pipeline.warehouse.export import (
    Destination,
    check_destination,
    export_source,
    retyped_tables,
    use_data_dir,
)
from osvi_pipeline.warehouse.export_status import (
    ExportStatus,
    publication_time,
    read_status,
    write_status,
)

EXPORT_POOL = "export"
FULL_TAG = "osvi/export_full"  # `osvi export --full`: every table replaced


def check_destinations(settings: Settings) -> list[str]:
    """What is wrong with each destination's configuration (nothing is contacted)."""
    use_data_dir(settings.data_dir)
    return [error for destination in destinations(settings)
            if (error := check_destination(destination)) is not None]


def destinations(settings: Settings) -> list[Destination]:
    return [Destination(name, settings.export_dataset, settings.layout.export_dir,
                        settings.export_table_format if name == "filesystem" else None)
            for name in settings.export_destination_list]


class ExportTranslator(DagsterDltTranslator):
    """`export/<destination>/<table>`, downstream of the warehouse table it sends."""

    def __init__(self, destination: str) -> None:
        super().__init__()
        self.destination = destination

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        table = data.resource.name
        return super().get_asset_spec(data).replace_attributes(
            key=dg.AssetKey(["export", self.destination, table]), deps=[dg.AssetKey(table)],
            group_name=EXPORT_GROUP,
            description=f"The warehouse's `{table}` at the `{self.destination}` destination: "
                        "its changed rows merged on the table's key, or the table replaced.")


def build_export_assets(settings: Settings,
                        scopes: dict[str, TableScope]) -> list[dg.AssetsDefinition]:
    published = settings.layout.warehouse_path
    return [_destination_assets(destination, published, scopes)
            for destination in destinations(settings)]


def _destination_assets(destination: Destination, published: Path,
                        scopes: dict[str, TableScope]) -> dg.AssetsDefinition:
    pipeline = destination.pipeline()
    merge = destination.merge_supported(pipeline)

    def source(full: bool) -> Any:
        return export_source(published, scopes, full, merge, destination.table_format)

    @dlt_assets(dlt_source=source(False), dlt_pipeline=pipeline,
                name=f"export_{destination.name}",
                dagster_dlt_translator=ExportTranslator(destination.name), pool=EXPORT_POOL)
    def export_assets(context: dg.AssetExecutionContext,
                      dlt: DagsterDltResource) -> Iterator[Any]:
        holds = publication_time(published)
        before = read_status(destination.pipelines_dir, destination.name)
        try:
            retyped = retyped_tables(pipeline, published)
            if retyped:  # dropped and created again with the new types, then taken as usual
                context.log.info(f"{destination.name}: columns changed type in "
                                 f"{', '.join(retyped)}: those tables are created again")
                pipeline.run(source(True).with_resources(*retyped), refresh="drop_resources",
                             loader_file_format=destination.loader_file_format())
            yield from dlt.run(context=context,
                               dlt_source=source(context.run.tags.get(FULL_TAG) == "true"),
                               loader_file_format=destination.loader_file_format())
        except Exception as error:
            now = datetime.now(UTC).isoformat()
            write_status(destination.pipelines_dir, destination.name, ExportStatus(
                before.holds_publication_at if before else None,
                before.last_success_at if before else None,
                (before.failing_since if before and before.failing_since else now),
                _safe_error(error)))
            raise
        now = datetime.now(UTC).isoformat()
        write_status(destination.pipelines_dir, destination.name, ExportStatus(
            holds.isoformat() if holds else None, now, None, None))

    return export_assets


def _safe_error(error: BaseException) -> str:
    """The root cause's type and first line (dlt wraps it: PipelineStepFailed), any URL
    password in it masked."""
    for _ in range(5):
        cause = getattr(error, "exception", None) or error.__cause__
        if not isinstance(cause, BaseException) or cause is error:
            break
        error = cause
    first = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
    first = re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", first)
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
