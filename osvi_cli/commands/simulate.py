"""`osvi simulate`: realistic OSVI deliveries sent to a running endpoint."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from osvi_cli.console import console, fail
from osvi_core.integrations import IntegrationsError, load_integrations


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
            fail(str(exc))
        deliveries = list(generate_for_integrations(calls, configured, seed))
    else:
        deliveries = list(generate_deliveries(calls, seed))
    console.print(f"sending {len(deliveries)} deliveries for {calls} calls to {url}")
    outcomes = asyncio.run(send_deliveries(url, token, deliveries, concurrency))
    for outcome, count in sorted(outcomes.items()):
        console.print(f"  {outcome}: {count}")
    if set(outcomes) - {"200"}:
        raise typer.Exit(1)
