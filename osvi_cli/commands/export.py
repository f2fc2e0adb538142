"""`osvi export [--full]`: send the published warehouse to OSVI_EXPORT_DESTINATIONS now."""

from __future__ import annotations

from typing import Annotated

import typer

from osvi_cli.commands.materialize import export_or_exit
from osvi_cli.console import (
    check_export_destinations,
    dagster_home_or_exit,
    fail,
    settings_or_exit,
)


def export(
    full: Annotated[bool, typer.Option(
        "--full", help="Replace every exported table instead of merging the changes.")] = False,
) -> None:
    """Send the warehouse's changes (or, with --full, every exported table) to each
    OSVI_EXPORT_DESTINATIONS destination; exit status 3 when one failed. For cron, or after a
    destination was down."""
    settings = settings_or_exit()
    if not settings.export_destination_list:
        fail("OSVI_EXPORT_DESTINATIONS is not set: nothing to export to (docs/export.md)")
    check_export_destinations(settings)
    if not settings.layout.warehouse_path.exists():
        fail(f"nothing is published at {settings.layout.warehouse_path} yet: run `osvi "
             "materialize` first")
    dagster_home_or_exit(settings)
    export_or_exit(settings, full)
