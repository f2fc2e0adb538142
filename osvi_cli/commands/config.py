"""`osvi config`: the effective configuration, where each value came from, secrets masked."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from osvi_cli.console import console, print_table, settings_or_exit
from osvi_core.config_report import effective_configuration
from osvi_core.settings import Settings


class ConfigFormat(StrEnum):
    table = "table"
    json = "json"


def config(
    output: Annotated[ConfigFormat, typer.Option("--format", help="Output format.")]
    = ConfigFormat.table,
) -> None:
    """Every setting with its value and where it came from (default, environment, file);
    secrets as ***."""
    settings = settings_or_exit(writes=False)
    rows = effective_configuration(settings)
    destinations = export_destination_report(settings)
    if output is ConfigFormat.json:
        typer.echo(json.dumps([row.as_dict() for row in rows], indent=2) if not destinations
                   else json.dumps({"settings": [row.as_dict() for row in rows],
                                    "export_destinations": destinations}, indent=2))
        return
    table = Table("section", "variable", "value", "source")
    for row in rows:
        value = Text("unset", style="dim") if row.value is None else Text(row.value)
        table.add_row(row.section, row.variable, value, row.source)
    print_table(table)
    for name, problem in destinations.items():
        console.print(escape(f"export destination {name}: {problem or 'configured'}"),
                      highlight=False)


def export_destination_report(settings: Settings) -> dict[str, str | None]:
    """Each export destination -> what its dlt configuration lacks (None: complete)."""
    if not settings.export_destination_list:
        return {}
    from osvi_pipeline.defs.assets.export import destinations
    from osvi_pipeline.warehouse.export import check_destination, use_data_dir

    use_data_dir(settings.data_dir)
    return {destination.name: check_destination(destination)
            for destination in destinations(settings)}
