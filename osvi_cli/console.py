"""What every `osvi` command shares: the consoles, failing with a message, the settings, and
the start-up checks and announcements of the long-running commands."""

from __future__ import annotations

import errno
import os
import pwd
import shlex
import socket
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from osvi_core.integrations import IntegrationsError, ensure_default_token, load_integrations
from osvi_core.settings import ConfigError, Settings, load_settings
from osvi_core.version import package_version

if TYPE_CHECKING:
    from osvi_pipeline.lib.notify_targets import Target

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(message)s"},
                   "uvicorn": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain",
                            "stream": "ext://sys.stderr"},
                 "uvicorn": {"class": "logging.StreamHandler", "formatter": "uvicorn",
                             "stream": "ext://sys.stderr"}},
    "loggers": {"osvi": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
                "uvicorn": {"handlers": ["uvicorn"], "level": "INFO", "propagate": False},
                "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False}},
}


def fail(message: str) -> NoReturn:
    # (escaped: messages quote config keys like [destination.postgres], not markup)
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(2)


def warn(message: str) -> None:
    errors.print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False)


def settings_or_exit(*, writes: bool = True) -> Settings:
    """The settings, or exit 2 naming the variable. `writes`: the command writes under
    OSVI_DATA_DIR, so root may not run it over another user's data dir."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(str(exc))
    if writes:
        refuse_root_over_others(settings.data_dir)
    return settings


def refuse_root_over_others(data_dir: Path) -> None:
    """Root writing into the service user's data dir leaves files the services cannot open
    (a root-owned run.lock, warehouse or landing folder stops the next run)."""
    if os.geteuid() != 0 or not data_dir.exists():
        return
    owner = data_dir.stat().st_uid
    if owner == 0:
        return
    try:
        name = pwd.getpwuid(owner).pw_name
    except KeyError:
        name = str(owner)
    command = shlex.join(["osvi", *sys.argv[1:]])
    fail(f"running as root over {data_dir.resolve()}, which belongs to {name}: files root "
         f"creates there would stop the services that run as {name}. Run it as that user: "
         f"sudo -u {name} {command} (with --env-file /etc/osvi/osvi.env on a production host)")


def dagster_home_or_exit(settings: Settings) -> Path:
    """DAGSTER_HOME with its dagster.yaml, or exit 2 when the instance is on PostgreSQL and
    this process has no URL for it."""
    from osvi_pipeline.runtime.instance import InstanceMismatch, dagster_home

    try:
        return dagster_home(settings)
    except InstanceMismatch as exc:
        fail(str(exc))


def check_notify_urls(settings: Settings) -> list[Target]:
    """The OSVI_NOTIFY_URLS targets; a malformed one is named at start, not at 00:15 (never
    its secrets)."""
    from osvi_pipeline.lib.notify_targets import NotifyConfigError, parse_targets

    try:
        return parse_targets(settings.notify_urls)
    except NotifyConfigError as exc:
        fail(str(exc))


def check_export_destinations(settings: Settings) -> None:
    """Each OSVI_EXPORT_DESTINATIONS destination's configuration, at start: its name and the
    missing keys, never a value (nothing is contacted)."""
    if not settings.export_destination_list:
        return
    from osvi_pipeline.defs.assets.export import check_destinations

    errors = check_destinations(settings)
    if errors:
        fail("\n".join(errors))


def check_landing(settings: Settings) -> None:
    """A missing bucket or refused credentials stop the start with the variable to fix: a
    replica that cannot publish would only fill its journal until it answers 503."""
    from osvi_core.landing_store import LandingStoreError, landing_store_for

    try:
        landing_store_for(settings).check()
    except LandingStoreError as exc:
        if exc.reason != "unreachable":
            fail(str(exc))
        warn(str(exc))  # serving still: deliveries are journaled and published later
    if settings.landing_remote:
        console.print(f"landing: {settings.landing_location} (journal in "
                      f"{settings.layout.journal_dir})", highlight=False)


def announce_ingest(settings: Settings, host: str, port: int) -> None:
    """Print where to send deliveries and how to authenticate.

    A token is a secret: it is shown only when it was generated just now, and only on an
    interactive terminal. Otherwise this output may be a log (journald, a collector), so only
    where the token is comes out, never the token itself.
    """
    console.print(f"[bold]OSVI ingest[/] on http://{host}:{port}/webhooks/<integration>  "
                  f"(osvi-pipeline {package_version()})", highlight=False)
    path = settings.layout.integrations_path
    if path is not None:
        try:
            names = ", ".join(load_integrations(path))
        except IntegrationsError as exc:
            fail(f"the integrations file cannot be used:\n{exc}")
        console.print(f"integrations from {path}: {names} (tokens not shown)")
        return
    token, generated = ensure_default_token(settings)
    token_file = settings.layout.token_file
    if settings.ingest_token:
        where, shown = "OSVI_INGEST_TOKEN", "<the token in OSVI_INGEST_TOKEN>"
    elif generated and sys.stdout.isatty():
        where, shown = f"generated into {token_file}, shown this once", token
    else:
        where, shown = f"in {token_file}, not shown: cat it to copy", f"<the token in {token_file}>"
    console.print(f"ingest token: {where}", highlight=False)
    console.print(f"OSVI header to paste:  Authorization: Bearer [bold]{shown}[/]",
                  highlight=False)


def port_in_use(host: str, port: int) -> bool:
    """Whether the servers could not listen there (binding as uvicorn does, SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:  # anything else (a bad host) is the servers' to report
            return exc.errno == errno.EADDRINUSE
    return False


def refuse_taken_ports(binds: Iterable[tuple[str, int, str]], guess: str = "") -> None:
    """Stop before announcing URLs that would not be ours: (host, port, option) each; `guess`
    says what probably holds the port."""
    for host, port, option in binds:
        if port_in_use(host, port):
            fail(f"{host}:{port} is already in use{guess}: stop what holds it, or choose "
                 f"another port with {option}")


def print_table(table: Table) -> None:
    """A table at the terminal's width, or whole when stdout is a file or a pipe (Rich assumes
    80 columns there, which would crop the columns of a report redirected to a file)."""
    if console.is_terminal:
        console.print(table)
        return
    unbounded = console.options.update(max_width=sys.maxsize)
    width = max(console.width, console.measure(table, options=unbounded).maximum)
    Console(width=width).print(table)
