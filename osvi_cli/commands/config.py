"""`osvi config`: the effective configuration, where each value came from, secrets masked."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from osvi_cli.console import print_table, settings_or_exit
from osvi_core.config_report import effective_configuration


class ConfigFormat(StrEnum):
    table = "table"
    json = "json"


def config(
    output: Annotated[ConfigFormat, typer.Option("--format", help="Output format.")]
    = ConfigFormat.table,
) -> None:
    """Every setting with its value and where it came from (default, environment, file);
    secrets as ***."""
    rows = effective_configuration(settings_or_exit(writes=False))
    if output is ConfigFormat.json:
        typer.echo(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    table = Table("section", "variable", "value", "source")
    for row in rows:
        value = Text("unset", style="dim") if row.value is None else Text(row.value)
        table.add_row(row.section, row.variable, value, row.source)
    print_table(table)
