"""The `osvi` command: serve, up, materialize, import, report, simulate, integrations."""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import os
import re
import shutil
import socket
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from osvi_cli.production import Layout, Role
from osvi_core.integrations import IntegrationsError, ensure_default_token, load_integrations
from osvi_core.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from osvi_pipeline.lib.notify_targets import Target

app = typer.Typer(help="OSVI webhook ingest and analytics.", no_args_is_help=True,
                  add_completion=False)
integrations_app = typer.Typer(help="Work with the integrations file.", no_args_is_help=True)
app.add_typer(integrations_app, name="integrations")
report_app = typer.Typer(help="Results from the warehouse.", no_args_is_help=True)
app.add_typer(report_app, name="report")
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


def _fail(message: str) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        _fail(str(exc))


def _check_notify_urls(settings: Settings) -> list[Target]:
    """The OSVI_NOTIFY_URLS targets; a malformed one is named at start, not at 00:15 (never
    its secrets)."""
    from osvi_pipeline.lib.notify_targets import NotifyConfigError, parse_targets

    try:
        return parse_targets(settings.notify_urls)
    except NotifyConfigError as exc:
        _fail(str(exc))


def _check_landing(settings: Settings) -> None:
    """A missing bucket or refused credentials stop the start with the variable to fix: a
    replica that cannot publish would only fill its journal until it answers 503."""
    from osvi_core.landing_store import LandingStoreError, landing_store_for

    try:
        landing_store_for(settings).check()
    except LandingStoreError as exc:
        if exc.reason != "unreachable":
            _fail(str(exc))
        # Serving still: deliveries are journaled and published when the store is back.
        errors.print(f"[bold yellow]warning:[/] {exc}", highlight=False)
    if settings.landing_remote:
        console.print(f"landing: {settings.landing_location} (journal in "
                      f"{settings.journal_dir})", highlight=False)


def _announce_ingest(settings: Settings, host: str, port: int) -> None:
    """Print where to send deliveries and how to authenticate.

    A token is a secret: it is shown only when it was generated just now, and only on an
    interactive terminal. Otherwise this output may be a log (journald, a collector), so only
    where the token is comes out, never the token itself.
    """
    console.print(f"[bold]OSVI ingest[/] on http://{host}:{port}/webhooks/<integration>")
    path = settings.integrations_path
    if path is not None:
        try:
            names = ", ".join(load_integrations(path))
        except IntegrationsError as exc:
            _fail(f"the integrations file cannot be used:\n{exc}")
        console.print(f"integrations from {path}: {names} (tokens not shown)")
        return
    token, generated = ensure_default_token(settings)
    if settings.ingest_token:
        where, shown = "OSVI_INGEST_TOKEN", "<the token in OSVI_INGEST_TOKEN>"
    elif generated and sys.stdout.isatty():
        where, shown = f"generated into {settings.token_file}, shown this once", token
    else:
        where = f"in {settings.token_file}, not shown: cat it to copy"
        shown = f"<the token in {settings.token_file}>"
    console.print(f"ingest token: {where}", highlight=False)
    console.print(f"OSVI header to paste:  Authorization: Bearer [bold]{shown}[/]",
                  highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind (loopback unless told).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    announce: Annotated[bool, typer.Option(hidden=True)] = True,  # `osvi up` announced it
) -> None:
    """Run the ingest API alone."""
    import uvicorn

    settings = settings_or_exit()
    _check_landing(settings)
    if announce:
        _announce_ingest(settings, host, port)
    if workers > 1:
        metrics_dir = settings.data_dir / "run" / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    uvicorn.run("ingest_api.app:create_app", factory=True, host=host, port=port,
                workers=workers, log_config=LOG_CONFIG, access_log=False,
                timeout_graceful_shutdown=20,
                # Slow or idle clients cannot hold the server: a connection cap (503 beyond it)
                # and idle keep-alive connections closed; the endpoint times out slow bodies.
                limit_concurrency=2000, timeout_keep_alive=20,
                proxy_headers=False)  # client addresses are never used: skip the parsing


@app.command()
def up(
    host: Annotated[str, typer.Option(envvar="OSVI_HOST", help="Interface for the ingest API "
                                      "and the Dagster UI (loopback unless told).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="OSVI_PORT", help="Ingest API port.")] = 8000,
    dagster_port: Annotated[int, typer.Option(envvar="OSVI_DAGSTER_PORT",
                                              help="Dagster UI port.")] = 3000,
    production: Annotated[bool, typer.Option(
        "--production", help="Dagster's production processes (dagster-webserver, one "
                             "dagster-daemon, a gRPC code server) instead of dagster dev.")]
    = False,
    only: Annotated[Role | None, typer.Option(
        help="With --production: run this one role (one service unit or container each).")]
    = None,
    code_server_host: Annotated[str, typer.Option(
        envvar="OSVI_CODE_SERVER_HOST", help="With --production: the code server's interface "
                                            "(where the daemon and webservers reach it).")]
    = "127.0.0.1",
    code_server_port: Annotated[int, typer.Option(envvar="OSVI_CODE_SERVER_PORT",
                                                  help="With --production: its gRPC port.")]
    = 4000,
    read_only: Annotated[bool, typer.Option(
        "--read-only", help="With --production: a webserver that cannot launch or change "
                            "anything (the one to give analysts).")] = False,
) -> None:
    """Run the ingest API and Dagster together (dagster dev, or with --production Dagster's
    production processes); Ctrl-C or SIGTERM stops them all.
    """
    from osvi_cli.supervise import run_together
    from osvi_pipeline.runtime.instance import dagster_home

    settings = settings_or_exit()
    _check_notify_urls(settings)
    _check_landing(settings)  # once here, not in a restart loop of the role that reads it
    if (only or read_only) and not production:
        _fail("--only and --read-only go with --production")
    if production:
        layout = Layout(host, port, dagster_port, code_server_host, code_server_port, read_only)
        _up_production(settings, layout, only)
        return
    for taken, option in ((port, "--port"), (dagster_port, "--dagster-port")):
        if _port_in_use(host, taken):  # before announcing URLs that would not be ours
            _fail(f"{host}:{taken} is already in use (another `osvi up`?): stop it, or choose "
                  f"another port with {option}")
    _announce_ingest(settings, host, port)
    home = dagster_home(settings)
    console.print(f"[bold]Dagster UI[/] on http://{host}:{dagster_port}  (DAGSTER_HOME={home})")
    workspace = Path(__file__).resolve().parents[1] / "workspace.yaml"
    target = ["-w", str(workspace)] if workspace.exists() else ["-m", "osvi_pipeline.definitions"]
    bin_dir = Path(sys.executable).parent
    commands = {
        "ingest": [str(bin_dir / "osvi"), "serve", "--host", host, "--port", str(port),
                   "--no-announce"],
        "dagster": [str(bin_dir / "dagster"), "dev", *target, "-h", host, "-p",
                    str(dagster_port)],
    }
    env = {**os.environ, **_absolute_paths(settings), "DAGSTER_HOME": str(home),
           "PYTHONWARNINGS": _with_quiet_dagster_dev(os.environ.get("PYTHONWARNINGS", ""))}
    raise typer.Exit(run_together(commands, env,
                                  cwd=workspace.parent if workspace.exists() else None))


def _up_production(settings: Settings, layout: Layout, only: Role | None) -> None:
    """All roles under one supervisor that restarts a role that dies, or one role whose exit
    status is this command's (for systemd's Restart=always or a container's restart policy)."""
    from osvi_cli.production import postgres_problem, role_command, write_workspace
    from osvi_cli.supervise import run_together
    from osvi_pipeline.runtime.instance import dagster_home

    roles = [only] if only else [Role.code_server, Role.ingest, Role.daemon, Role.webserver]
    uses_dagster = bool(set(roles) - {Role.ingest})
    if settings.dagster_postgres_url and uses_dagster and (
            problem := postgres_problem(settings.dagster_postgres_url)) is not None:
        _fail(problem)
    binds = {Role.ingest: (layout.host, layout.port, "--port"),
             Role.webserver: (layout.host, layout.dagster_port, "--dagster-port"),
             Role.code_server: (layout.code_server_host, layout.code_server_port,
                                "--code-server-port")}
    for role in roles:
        if role in binds and _port_in_use(*binds[role][:2]):
            bind_host, bind_port, option = binds[role]
            _fail(f"{bind_host}:{bind_port} is already in use: stop what holds it, or choose "
                  f"another port with {option}")
    if Role.ingest in roles:
        _announce_ingest(settings, layout.host, layout.port)
    home = dagster_home(settings)
    workspace = write_workspace(home, layout)
    storage = ("PostgreSQL (OSVI_DAGSTER_POSTGRES_URL)" if settings.dagster_postgres_url
               else f"SQLite in {home} (one machine only: set OSVI_DAGSTER_POSTGRES_URL)")
    if Role.webserver in roles:
        console.print(f"[bold]Dagster UI[/] on http://{layout.host}:{layout.dagster_port}"
                      + (" (read-only)" if layout.read_only else ""), highlight=False)
    console.print(f"Dagster production roles: {', '.join(roles)}; storage: {storage}",
                  highlight=False)
    env = {**os.environ, **_absolute_paths(settings), "DAGSTER_HOME": str(home)}
    commands = {str(role): role_command(role, layout, workspace) for role in roles}

    def code_server_up() -> bool:  # the daemon and webserver load the location from it
        return _port_in_use(layout.code_server_host, layout.code_server_port)

    def report(line: str) -> None:
        errors.print(f"[bold yellow]warning:[/] {line}", highlight=False)

    together = roles[0] is Role.code_server and len(roles) > 1
    raise typer.Exit(run_together(commands, env, restart=only is None, report=report,
                                  first_ready=code_server_up if together else None))


def _absolute_paths(settings: Settings) -> dict[str, str]:
    """The OSVI_* paths for the children, resolved against the user's working directory: the
    children run in the project folder (workspace.yaml's paths are relative to it), where a
    relative OSVI_DATA_DIR would be another folder, with another token than the one announced."""
    paths = {"OSVI_DATA_DIR": settings.data_dir, "OSVI_WAREHOUSE": settings.warehouse,
             "OSVI_INTEGRATIONS": settings.integrations}
    return {name: str(path.resolve()) for name, path in paths.items() if path is not None}


def _port_in_use(host: str, port: int) -> bool:
    """Whether the servers could not listen there (binding as uvicorn does, SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:  # anything else (a bad host) is the servers' to report
            return exc.errno == errno.EADDRINUSE
    return False


def _with_quiet_dagster_dev(filters: str) -> str:
    """Dagster 1.13 warns on every start that `dagster dev` is superseded by `dg dev` (a
    separate CLI and project layout); the contract names `dagster dev`, so the warning is
    ours to heed, not the user's to read. Other warnings stay as the user set them."""
    quiet = "ignore:Function `dev_command` is superseded"
    return f"{filters},{quiet}" if filters else quiet


@app.command()
def materialize(
    date: Annotated[str | None, typer.Option(help="One day, YYYY-MM-DD.")] = None,
    start: Annotated[str | None, typer.Option(help="First day of a range.")] = None,
    end: Annotated[str | None, typer.Option(help="Last day of a range (inclusive).")] = None,
) -> None:
    """Run the whole asset graph in-process for those days (default: every landed day)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from osvi_pipeline.runtime.instance import persistent_instance
    from osvi_pipeline.runtime.materialize import (
        days_outside_partitions,
        landed_day_range,
        materialize_days,
    )

    settings = settings_or_exit()
    _check_notify_urls(settings)
    days = _day_range(date, start, end) or landed_day_range(settings)
    if days is None:
        console.print(f"nothing has landed in {settings.landing_location} yet")
        return
    if (problem := days_outside_partitions(settings, *days)) is not None:
        _fail(problem)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("starting", total=None)
        runs = materialize_days(settings, *days, instance=persistent_instance(settings),
                                on_step=lambda step: progress.update(task, description=step))
    if not all(run.success for run in runs):
        _fail("materialization failed (details above and in the Dagster UI)")
    console.print(f"materialized {days[0]}..{days[1]} into {settings.warehouse_path}")


def _day_range(day: str | None, start: str | None, end: str | None
               ) -> tuple[dt.date, dt.date] | None:
    try:
        if day is not None:
            if start or end:
                _fail("use --date, or --start and --end, not both")
            return dt.date.fromisoformat(day), dt.date.fromisoformat(day)
        if start is None and end is None:
            return None
        first = dt.date.fromisoformat(start or end or "")
        last = dt.date.fromisoformat(end or start or "")
    except ValueError as exc:
        _fail(f"dates are YYYY-MM-DD days in OSVI_TIMEZONE ({exc})")
    if last < first:
        _fail(f"--end {last} is before --start {first}")
    return first, last


@app.command(name="import")
def import_(
    paths: Annotated[list[str], typer.Argument(
        help="JSON Lines files, .json files (one body or an array), directories of them, or - "
             "for standard input (JSON Lines); .gz files are read gunzipped.")],
    integration: Annotated[str, typer.Option(help="The integration the bodies belong to "
                                                  "(as in /webhooks/NAME).")],
    received_at_field: Annotated[str | None, typer.Option(
        help="Dotted path of each body's receipt time (ISO 8601; without an offset it is "
             "OSVI_TIMEZONE time). Default: the file's modification time.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Count what would be stored; write nothing.")]
    = False,
) -> None:
    """Store past OSVI bodies as deliveries, exactly as the endpoint would (idempotent)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from osvi_cli.history_import import HistoryImportError, find_sources, import_history
    from osvi_core.integrations import NAME_PATTERN
    from osvi_core.landing_store import landing_store_for

    settings = settings_or_exit()
    if settings.integrations_path is not None:
        try:
            known = load_integrations(settings.integrations_path)
        except IntegrationsError as exc:
            _fail(str(exc))
        if integration not in known:
            _fail(f"--integration {integration!r} is not in {settings.integrations_path} "
                  f"({', '.join(known)})")
    elif not re.fullmatch(NAME_PATTERN, integration):
        _fail(f"--integration {integration!r}: letters, digits, '.', '_' and '-' only")
    try:
        sources = find_sources(paths)
    except HistoryImportError as exc:
        _fail(str(exc))
    sizes = [source.size() for source in sources]
    total = None if None in sizes else sum(size or 0 for size in sizes)
    with Progress(*Progress.get_default_columns()[:1], BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=errors, disable=not errors.is_terminal,
                  transient=True) as progress:
        task = progress.add_task("importing", total=total)
        report = import_history(sources, integration, landing_store_for(settings),
                                timezone=settings.timezone, received_at_field=received_at_field,
                                dry_run=dry_run, progress=lambda done: progress.advance(task, done))
    for message in report.errors:
        errors.print(message, highlight=False, markup=False)
    if report.unparseable > len(report.errors):
        errors.print(f"... and {report.unparseable - len(report.errors)} more unparseable")
    verb = "would store" if dry_run else "stored"
    console.print(f"{report.bodies} bodies read: {verb} {report.stored} new deliveries, "
                  f"{report.already_imported} imported before, {report.unparseable} unparseable "
                  "(kept with parse_error)", highlight=False)
    if report.time_from_file:
        console.print(f"{report.time_from_file} bodies had no usable {received_at_field}: "
                      "their file's modification time was used", highlight=False)
    if report.days:
        from osvi_pipeline.lib.local_days import local_days_of_utc_day

        first = local_days_of_utc_day(dt.date.fromisoformat(min(report.days)),
                                      settings.timezone)[0]
        last = min(local_days_of_utc_day(dt.date.fromisoformat(max(report.days)),
                                         settings.timezone)[-1],
                   dt.datetime.now(ZoneInfo(settings.timezone)).date())
        console.print(f"load them into the warehouse: osvi materialize --start {first} "
                      f"--end {last}", highlight=False)
    if report.unparseable:
        raise typer.Exit(1)


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="Base URL of the endpoint, or a full webhook URL.")],
    token: Annotated[str, typer.Option(help="The ingest token (ignored for integrations that "
                                            "have their own in --integrations).")],
    calls: Annotated[int, typer.Option(min=1, help="How many calls to simulate.")] = 100,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same deliveries).")] = 0,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight.")] = 8,
    integrations: Annotated[Path | None, typer.Option(
        help="Send what OSVI would send to each integration of this file (templates, URL "
             "placeholders, call-status reports) instead of Auto bodies to crm and sheet.")]
    = None,
) -> None:
    """Send realistic OSVI deliveries to a running endpoint."""
    from osvi_cli.simulate import generate_deliveries, generate_for_integrations, send_deliveries

    if integrations is not None:
        try:
            configured = load_integrations(integrations)
        except IntegrationsError as exc:
            _fail(str(exc))
        deliveries = list(generate_for_integrations(calls, configured, seed))
    else:
        deliveries = list(generate_deliveries(calls, seed))
    console.print(f"sending {len(deliveries)} deliveries for {calls} calls to {url}")
    outcomes = asyncio.run(send_deliveries(url, token, deliveries, concurrency))
    for outcome, count in sorted(outcomes.items()):
        console.print(f"  {outcome}: {count}")
    if set(outcomes) - {"200"}:
        raise typer.Exit(1)


class ReportFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _optional_day(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        _fail(f"{value!r} is not a YYYY-MM-DD day")


@report_app.command("campaigns")
def report_campaigns(
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (inclusive).")] = None,
    campaign: Annotated[str | None, typer.Option(help="Only this campaign.")] = None,
    output: Annotated[ReportFormat, typer.Option("--format", help="Output format.")]
    = ReportFormat.table,
) -> None:
    """Calls, unique phones, directions, agents and retries per campaign and day."""
    from osvi_cli.campaign_report import ReportError, as_csv, as_json, as_table, campaign_rows

    settings = settings_or_exit()
    try:
        columns, rows = campaign_rows(settings.warehouse_path, _optional_day(start),
                                      _optional_day(end), campaign)
    except ReportError as exc:
        _fail(str(exc))
    if output is ReportFormat.csv:
        sys.stdout.write(as_csv(columns, rows))
    elif output is ReportFormat.json:
        sys.stdout.write(as_json(columns, rows) + "\n")
    else:
        table = as_table(columns, rows)
        if console.is_terminal:
            console.print(table)
        else:
            # Rich assumes 80 columns when stdout is not a terminal, which crops the headers of
            # a report redirected to a file or a pipe; there no screen limits the width.
            unbounded = console.options.update(max_width=sys.maxsize)
            width = max(console.width, console.measure(table, options=unbounded).maximum)
            Console(width=width).print(table)


@integrations_app.command("check")
def integrations_check(
    file: Annotated[Path, typer.Argument(help="The integrations YAML file.")],
) -> None:
    """Validate an integrations file; every error names its line."""
    try:
        integrations = load_integrations(file)
    except IntegrationsError as exc:
        _fail(str(exc))
    for integration in integrations.values():
        console.print(f"ok  {integration.name}  mode={integration.mode}  "
                      f"tokens={len(integration.tokens)}  header={integration.header}")


@integrations_app.command("test")
def integrations_test(
    name: Annotated[str, typer.Argument(help="The integration to test.")],
    url: Annotated[str, typer.Option(help="Base URL of the endpoint (or a full webhook URL).")],
    file: Annotated[Path | None, typer.Option(help="Integrations file (default: the one in "
                                                   "use).")] = None,
) -> None:
    """Send OSVI's sample payload through NAME's template and URL template, like OSVI's Test
    button, and print the answer."""
    import httpx

    from osvi_cli.integration_requests import SAMPLE_AUTO_BODY, request_for

    settings = settings_or_exit()
    path = file or settings.integrations_path
    if path is None:
        _fail("no integrations file: pass --file or set OSVI_INTEGRATIONS")
    try:
        integrations = load_integrations(path)
    except IntegrationsError as exc:
        _fail(str(exc))
    if name not in integrations:
        _fail(f"no integration named {name!r} in {path} (has: {', '.join(integrations)})")
    integration = integrations[name]
    method, target, headers, body = request_for(integration, integration.tokens[0],
                                                SAMPLE_AUTO_BODY, url)
    console.print(f"{method} {target}", highlight=False)
    try:
        response = httpx.request(method, target, headers=headers, content=body, timeout=15)
    except httpx.HTTPError as exc:
        _fail(f"could not reach {target}: {exc}")
    console.print(f"{response.status_code} {response.text}", highlight=False)
    if not response.is_success:
        raise typer.Exit(1)


@report_app.command("daily")
def report_daily(
    date: Annotated[str | None, typer.Option(
        help="The day, YYYY-MM-DD in OSVI_TIMEZONE (default: yesterday, the last closed day).")]
    = None,
    send_it: Annotated[bool, typer.Option(
        "--send", help="Also send it to every OSVI_NOTIFY_URLS target (always, even to those "
                       "that received it already).")] = False,
) -> None:
    """Write the day's summary (Markdown + HTML) from the warehouse, and send it with --send."""
    import duckdb

    from osvi_pipeline.warehouse.daily_report import load_report, write_report_files
    from osvi_pipeline.warehouse.notifications import send, summary_message

    settings = settings_or_exit()
    targets = _check_notify_urls(settings)
    if send_it and not targets:
        _fail("--send needs OSVI_NOTIFY_URLS (Apprise URLs: slack://..., mailtos://..., ...)")
    day = _optional_day(date) or (
        dt.datetime.now(ZoneInfo(settings.timezone)).date() - dt.timedelta(days=1))
    if not settings.warehouse_path.exists():
        _fail(f"no warehouse at {settings.warehouse_path} yet: run `osvi materialize` first")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        try:
            report = load_report(con, day)
        except duckdb.CatalogException as exc:
            _fail(f"the warehouse is missing a table the report reads ({exc}): run "
                  "`osvi materialize`")
    if report is None:
        _fail(f"no calls on {day} in {settings.warehouse_path}")
    written = write_report_files(report, settings.data_dir / "reports" / "daily")
    console.print(f"wrote {written.html_path} and {written.html_path.with_suffix('.md')}",
                  highlight=False)
    if not send_it:
        return
    message = summary_message(report, written.html, settings.report_base_url)
    failed = 0
    for target in targets:
        outcome = send(target, message, settings.notify_attempts,
                       settings.notify_backoff_seconds)
        failed += not outcome.sent
        console.print(f"{'sent' if outcome.sent else 'FAILED'}: {target.name}"
                      + ("" if outcome.sent else f" ({outcome.error})"), highlight=False)
    if failed:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()

