"""`osvi up`: the ingest API and Dagster together (dagster dev, or with --production Dagster's
production processes), stopped together by Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from osvi_cli.commands.explore import announce_explorer, refuse_open_explorer
from osvi_cli.console import (
    announce_ingest,
    check_export_destinations,
    check_landing,
    check_notify_urls,
    console,
    dagster_home_or_exit,
    fail,
    port_in_use,
    refuse_taken_ports,
    settings_or_exit,
    warn,
)
from osvi_cli.production import ALL_ROLES, Layout, Role, explorer_command
from osvi_core.settings import ENV_FILE_VARIABLE, Settings, env_file_path, setting_sources
from osvi_core.version import package_version


def up(
    host: Annotated[str | None, typer.Option(help="Interface for the ingest API and the "
                                                  "Dagster UI (default OSVI_HOST, loopback).")]
    = None,
    port: Annotated[int | None, typer.Option(help="Ingest API port (default OSVI_PORT, 8000).")]
    = None,
    dagster_port: Annotated[int | None, typer.Option(
        help="Dagster UI port (default OSVI_DAGSTER_PORT, 3000).")] = None,
    explorer_port: Annotated[int | None, typer.Option(
        help="Campaign explorer port (default OSVI_EXPLORER_PORT, 8080).")] = None,
    production: Annotated[bool, typer.Option(
        "--production", help="Dagster's production processes (dagster-webserver, one "
                             "dagster-daemon, a gRPC code server) instead of dagster dev.")]
    = False,
    only: Annotated[Role | None, typer.Option(
        help="With --production: run this one role (one service unit or container each).")]
    = None,
    code_server_host: Annotated[str | None, typer.Option(
        help="With --production: the code server's interface (default "
             "OSVI_CODE_SERVER_HOST, loopback).")] = None,
    code_server_port: Annotated[int | None, typer.Option(
        help="With --production: its gRPC port (default OSVI_CODE_SERVER_PORT, 4000).")] = None,
    read_only: Annotated[bool, typer.Option(
        "--read-only", help="With --production: a webserver that cannot launch or change "
                            "anything (the one to give analysts).")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", help="Everything the services log (OSVI_LOG_LEVEL=debug): Dagster's "
                          "daemon and sensor ticks, every run step, a line per delivery.")]
    = False,
) -> None:
    """Run the ingest API and Dagster together (dagster dev, or with --production Dagster's
    production processes); Ctrl-C or SIGTERM stops them all.
    """
    settings = settings_or_exit()
    if verbose:
        settings = settings.model_copy(update={"log_level": "debug"})
    check_notify_urls(settings)
    check_export_destinations(settings)
    check_landing(settings)  # once here, not in a restart loop of the role that reads it
    if (only or read_only) and not production:
        fail("--only and --read-only go with --production")
    layout = Layout(host or settings.host, port or settings.port,
                    dagster_port or settings.dagster_port,
                    code_server_host or settings.code_server_host,
                    code_server_port or settings.code_server_port, read_only,
                    settings.explorer_host, explorer_port or settings.explorer_port,
                    services_log_level(settings.log_level))
    if production:
        _up_production(settings, layout, only)
    else:
        _up_dev(settings, layout)


def _up_dev(settings: Settings, layout: Layout) -> None:
    from osvi_cli.supervise import run_together

    refuse_open_explorer(settings, layout.explorer_host)
    refuse_taken_ports([(layout.host, layout.port, "--port"),
                        (layout.host, layout.dagster_port, "--dagster-port"),
                        (layout.explorer_host, layout.explorer_port, "--explorer-port")],
                       " (another `osvi up`?)")
    home = dagster_home_or_exit(settings)
    claim_the_daemon(settings, home)
    announce_ingest(settings, layout.host, layout.port)
    announce_explorer(settings, layout.explorer_host, layout.explorer_port)
    console.print(f"[bold]Dagster UI[/] on http://{layout.host}:{layout.dagster_port}  "
                  f"(DAGSTER_HOME={home}, osvi-pipeline {package_version()})", highlight=False)
    workspace = Path(__file__).resolve().parents[2] / "workspace.yaml"
    target = ["-w", str(workspace)] if workspace.exists() else ["-m", "osvi_pipeline.definitions"]
    bin_dir = Path(sys.executable).parent
    commands = {
        "ingest": [str(bin_dir / "osvi"), "serve", "--host", layout.host, "--port",
                   str(layout.port), "--no-announce"],
        "dagster": [str(bin_dir / "dagster"), "dev", *target, "-h", layout.host, "-p",
                    str(layout.dagster_port), "--log-level", layout.log_level],
        "explorer": explorer_command(layout),
    }
    env = {**os.environ, **_quiet_children(settings), "DAGSTER_HOME": str(home),
           "PYTHONWARNINGS": _with_quiet_dagster_dev(os.environ.get("PYTHONWARNINGS", ""))}
    raise typer.Exit(run_together(commands, env,
                                  cwd=workspace.parent if workspace.exists() else None,
                                  fold_tracebacks=_folded(settings, {"dagster"})))


def _up_production(settings: Settings, layout: Layout, only: Role | None) -> None:
    """All roles under one supervisor that restarts a role that dies, or one role whose exit
    status is this command's (for systemd's Restart=always or a container's restart policy)."""
    from osvi_cli.production import postgres_problem, role_command, write_workspace
    from osvi_cli.supervise import run_together

    roles = [only] if only else ALL_ROLES
    if Role.explorer in roles:
        refuse_open_explorer(settings, layout.explorer_host)
    uses_dagster = bool(set(roles) - {Role.ingest, Role.explorer})
    if settings.dagster_postgres_url and uses_dagster and (
            problem := postgres_problem(settings.dagster_postgres_url)) is not None:
        fail(problem)
    binds = {Role.ingest: (layout.host, layout.port, "--port"),
             Role.webserver: (layout.host, layout.dagster_port, "--dagster-port"),
             Role.code_server: (layout.code_server_host, layout.code_server_port,
                                "--code-server-port"),
             Role.explorer: (layout.explorer_host, layout.explorer_port, "--explorer-port")}
    refuse_taken_ports([binds[role] for role in roles if role in binds])
    # The ingest and the explorer never need Dagster's instance (nor its PostgreSQL).
    home = (dagster_home_or_exit(settings) if uses_dagster
            else settings.layout.dagster_home.resolve())
    if Role.daemon in roles:
        claim_the_daemon(settings, home)
    if Role.ingest in roles:
        announce_ingest(settings, layout.host, layout.port)
    if Role.explorer in roles:
        announce_explorer(settings, layout.explorer_host, layout.explorer_port)
    workspace = (write_workspace(home, layout) if uses_dagster
                 else home / "workspace-production.yaml")
    storage = ("PostgreSQL (OSVI_DAGSTER_POSTGRES_URL)" if settings.dagster_postgres_url
               else f"SQLite in {home} (one machine only: set OSVI_DAGSTER_POSTGRES_URL)")
    if Role.webserver in roles:
        console.print(f"[bold]Dagster UI[/] on http://{layout.host}:{layout.dagster_port}"
                      + (" (read-only)" if layout.read_only else ""), highlight=False)
    console.print(f"osvi-pipeline {package_version()}, Dagster production roles: "
                  f"{', '.join(roles)}; storage: {storage}", highlight=False)
    env = {**os.environ, **_quiet_children(settings), "DAGSTER_HOME": str(home)}
    commands = {str(role): role_command(role, layout, workspace) for role in roles}

    def code_server_up() -> bool:  # the daemon and webserver load the location from it
        return port_in_use(layout.code_server_host, layout.code_server_port)

    together = roles[0] is Role.code_server and len(roles) > 1
    dagster_roles = {str(role) for role in roles if role not in (Role.ingest, Role.explorer)}
    raise typer.Exit(run_together(commands, env, restart=only is None, report=warn,
                                  first_ready=code_server_up if together else None,
                                  fold_tracebacks=_folded(settings, dagster_roles)))


def claim_the_daemon(settings: Settings, home: Path) -> None:
    """Exactly one dagster-daemon per instance: refuse to start a second (it would launch runs
    too), naming where the first runs."""
    from osvi_pipeline.runtime.daemon_guard import SecondDaemon, claim_daemon
    from osvi_pipeline.runtime.instance import persistent_instance

    try:
        claim_daemon(persistent_instance(settings), home)
    except SecondDaemon as exc:
        fail(str(exc))


def services_log_level(osvi_level: str) -> str:
    """Dagster's services (daemon, webserver, code server) log a sensor tick's two INFO lines
    every few seconds (~2,000 lines an hour doing nothing): at OSVI_LOG_LEVEL=info they log
    warnings and errors; runs print their own summary line (defs/loggers.py)."""
    return {"debug": "info", "info": "warning"}.get(osvi_level, osvi_level)


def _folded(settings: Settings, names: set[str]) -> frozenset[str]:
    """Whose tracebacks become one line: Dagster's processes', unless debug (`--verbose`)."""
    return frozenset() if settings.log_level == "debug" else frozenset(names)


def _quiet_children(settings: Settings) -> dict[str, str]:
    """The children's environment: absolute paths, the chosen log level, and no line per
    delivery unless asked for (`--verbose`, or OSVI_DELIVERY_LOG set by the user)."""
    env = {**_absolute_paths(settings), "OSVI_LOG_LEVEL": settings.log_level}
    if setting_sources(settings)["delivery_log"] == "default":
        env["OSVI_DELIVERY_LOG"] = "true" if settings.log_level == "debug" else "false"
    return env


def _absolute_paths(settings: Settings) -> dict[str, str]:
    """The OSVI_* paths for the children, resolved against the user's working directory: the
    children run in the project folder (workspace.yaml's paths are relative to it), where a
    relative OSVI_DATA_DIR would be another folder, with another token than the one announced."""
    paths = {"OSVI_DATA_DIR": settings.data_dir, "OSVI_WAREHOUSE": settings.warehouse,
             "OSVI_INTEGRATIONS": settings.integrations, ENV_FILE_VARIABLE: env_file_path()}
    return {name: str(path.resolve()) for name, path in paths.items() if path is not None}


def _with_quiet_dagster_dev(filters: str) -> str:
    """Dagster 1.13 warns on every start that `dagster dev` is superseded by `dg dev` (a
    separate CLI and project layout); the contract names `dagster dev`, so the warning is
    ours to heed, not the user's to read. Other warnings stay as the user set them."""
    quiet = "ignore:Function `dev_command` is superseded"
    return f"{filters},{quiet}" if filters else quiet
