"""The `osvi` command: each command lives in osvi_cli/commands/, assembled here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from osvi_cli.commands.config import config
from osvi_cli.commands.explore import explore
from osvi_cli.commands.export import export
from osvi_cli.commands.forget import forget
from osvi_cli.commands.history import import_
from osvi_cli.commands.integrations import integrations_app
from osvi_cli.commands.materialize import materialize
from osvi_cli.commands.report import report_app
from osvi_cli.commands.serve import serve
from osvi_cli.commands.simulate import simulate
from osvi_cli.commands.up import up
from osvi_core.settings import ENV_FILE_VARIABLE
from osvi_core.version import package_version

app = typer.Typer(help="OSVI webhook ingest and analytics.", no_args_is_help=True,
                  add_completion=False)


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"osvi-pipeline {package_version()}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version,
        help="Print the installed version (from git when the wheel was built) and exit.")]
    = False,
    env_file: Annotated[Path | None, typer.Option(
        "--env-file", help=f"Read settings from this dotenv file too (sets {ENV_FILE_VARIABLE}; "
                           "the environment wins over it).")] = None,
) -> None:
    """OSVI webhook ingest and analytics."""
    if env_file is not None:
        # Through the environment, so the processes `osvi up` starts read the same file.
        os.environ[ENV_FILE_VARIABLE] = str(env_file.resolve())


app.command()(serve)
app.command()(up)
app.command()(materialize)
app.command(name="import")(import_)
app.command()(simulate)
app.command()(config)
app.command()(export)
app.command()(forget)
app.command()(explore)
app.add_typer(integrations_app, name="integrations")
app.add_typer(report_app, name="report")

if __name__ == "__main__":
    app()
