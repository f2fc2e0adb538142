"""`osvi up --production`: Dagster's production processes instead of `dagster dev`.

Roles: the ingest API, the campaign explorer, a gRPC code server for the `osvi_pipeline` code
location, exactly one `dagster-daemon` (sensors, schedules, the run queue, run retries and
monitoring) and `dagster-webserver`s, the last two loading the code server through a workspace
file written into DAGSTER_HOME. All of them in one supervisor (a role that dies is restarted),
or one role per process (`--only`), for one systemd unit or container each.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

CODE_LOCATION = "osvi_pipeline"


class Role(StrEnum):
    ingest = "ingest"
    code_server = "code-server"
    daemon = "daemon"
    webserver = "webserver"
    explorer = "explorer"


# The code server first: the daemon and the webservers load the code location from it.
ALL_ROLES = [Role.code_server, Role.ingest, Role.explorer, Role.daemon, Role.webserver]


@dataclass(frozen=True)
class Layout:
    host: str  # the ingest API's and the webserver's interface
    port: int  # ingest API
    dagster_port: int  # webserver
    code_server_host: str
    code_server_port: int
    read_only: bool  # a webserver for analysts: no launching, no wiping
    explorer_host: str = "127.0.0.1"
    explorer_port: int = 8080
    log_level: str = "warning"  # Dagster's services (see commands/up.py services_log_level)


def write_workspace(home: Path, layout: Layout) -> Path:
    """The workspace the daemon and the webservers load: the code server, over gRPC."""
    workspace = home / "workspace-production.yaml"
    workspace.write_text(
        "# Written by `osvi up --production`: the daemon and webservers load the code location\n"
        "# from the code server (`osvi up --production --only code-server`).\n"
        "load_from:\n"
        "  - grpc_server:\n"
        f"      host: {layout.code_server_host}\n"
        f"      port: {layout.code_server_port}\n"
        f"      location_name: {CODE_LOCATION}\n", encoding="utf-8")
    return workspace


def role_command(role: Role, layout: Layout, workspace: Path) -> list[str]:
    bin_dir = Path(sys.executable).parent
    if role is Role.ingest:
        return [str(bin_dir / "osvi"), "serve", "--host", layout.host, "--port",
                str(layout.port), "--no-announce"]
    if role is Role.explorer:
        return explorer_command(layout)
    if role is Role.code_server:
        return [str(bin_dir / "dagster"), "code-server", "start", "-m",
                "osvi_pipeline.definitions", "--location-name", CODE_LOCATION,
                "-h", layout.code_server_host, "-p", str(layout.code_server_port),
                "--log-level", layout.log_level]
    if role is Role.daemon:
        return [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace),
                "--log-level", layout.log_level]
    command = [str(bin_dir / "dagster-webserver"), "-w", str(workspace), "-h", layout.host,
               "-p", str(layout.dagster_port), "--dagster-log-level", layout.log_level]
    return [*command, "--read-only"] if layout.read_only else command


def explorer_command(layout: Layout) -> list[str]:
    return [str(Path(sys.executable).parent / "osvi"), "explore", "--host", layout.explorer_host,
            "--port", str(layout.explorer_port), "--no-announce"]


def postgres_problem(url: str) -> str | None:
    """Why Dagster could not use this PostgreSQL URL, or None; never quotes the password."""
    import psycopg2

    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        return ("OSVI_DAGSTER_POSTGRES_URL must look like "
                "postgresql://user:password@host:5432/database")
    where = f"{parts.username or ''}@{parts.hostname}:{parts.port or 5432}{parts.path}"
    try:
        psycopg2.connect(url, connect_timeout=5).close()
    except psycopg2.Error as exc:
        reason = " ".join(str(exc).split())
        if parts.password:
            reason = reason.replace(parts.password, "****")
        return f"OSVI_DAGSTER_POSTGRES_URL: cannot connect to PostgreSQL as {where}: {reason}"
    return None
