"""`osvi explore`: the campaign explorer alone, read-only over OSVI_WAREHOUSE."""

from __future__ import annotations

from typing import Annotated

import typer

from osvi_cli.console import LOG_CONFIG, console, fail, refuse_taken_ports, settings_or_exit
from osvi_core.settings import Settings
from osvi_core.version import package_version


def explore(
    host: Annotated[str | None, typer.Option(
        help="Interface to bind (default OSVI_EXPLORER_HOST, loopback); anything else needs "
             "OSVI_EXPLORER_PASSWORD.")] = None,
    port: Annotated[int | None, typer.Option(
        help="TCP port (default OSVI_EXPLORER_PORT, 8080).")] = None,
    announce: Annotated[bool, typer.Option(hidden=True)] = True,  # `osvi up` announced it
) -> None:
    """The campaign explorer: a read-only web app over the published warehouse."""
    import uvicorn

    from osvi_explorer.app import create_app

    settings = settings_or_exit(writes=False)
    host, port = host or settings.explorer_host, port or settings.explorer_port
    refuse_open_explorer(settings, host)
    if announce:
        refuse_taken_ports([(host, port, "--port")])
        announce_explorer(settings, host, port)
    uvicorn.run(create_app(settings), host=host, port=port, log_config=LOG_CONFIG,
                access_log=False, proxy_headers=False, timeout_graceful_shutdown=5)


def refuse_open_explorer(settings: Settings, host: str) -> None:
    """Campaign data on a non-loopback interface needs a login."""
    from osvi_explorer.security import is_loopback

    if not is_loopback(host) and not settings.explorer_password:
        fail(f"the campaign explorer on {host} would show every call to anyone who reaches "
             "it: set OSVI_EXPLORER_PASSWORD (at least 8 characters), or keep it on loopback")


def announce_explorer(settings: Settings, host: str, port: int) -> None:
    login = "login: OSVI_EXPLORER_PASSWORD" if settings.explorer_password else "no login"
    console.print(f"[bold]Campaign explorer[/] on http://{host}:{port}  ({login}, "
                  f"reads {settings.layout.warehouse_path}, osvi-pipeline {package_version()})",
                  highlight=False)
