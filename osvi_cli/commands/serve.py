"""`osvi serve`: the ingest API alone."""

from __future__ import annotations

import os
import shutil
from typing import Annotated

import typer

from osvi_cli.console import LOG_CONFIG, announce_ingest, check_landing, settings_or_exit


def serve(
    host: Annotated[str | None, typer.Option(
        help="Interface to bind (default OSVI_HOST, loopback).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default OSVI_PORT, 8000).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    announce: Annotated[bool, typer.Option(hidden=True)] = True,  # `osvi up` announced it
) -> None:
    """Run the ingest API alone."""
    import uvicorn

    settings = settings_or_exit()
    host, port = host or settings.host, port or settings.port
    check_landing(settings)
    if announce:
        announce_ingest(settings, host, port)
    if workers > 1:
        metrics_dir = settings.layout.prometheus_dir
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
