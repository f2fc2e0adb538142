"""`osvi integrations check|test`: work with the integrations file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from osvi_cli.console import console, fail, settings_or_exit
from osvi_core.integrations import IntegrationsError, load_integrations

integrations_app = typer.Typer(help="Work with the integrations file.", no_args_is_help=True)


@integrations_app.command("check")
def integrations_check(
    file: Annotated[Path, typer.Argument(help="The integrations YAML file.")],
) -> None:
    """Validate an integrations file; every error names its line."""
    try:
        integrations = load_integrations(file)
    except IntegrationsError as exc:
        fail(str(exc))
    for integration in integrations.values():
        frozen = integration.contract.frozen_sections()
        console.print(f"ok  {integration.name}  mode={integration.mode}  "
                      f"tokens={len(integration.tokens)}  header={integration.header}"
                      + (f"  frozen={','.join(frozen)}" if frozen else ""))


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

    settings = settings_or_exit(writes=False)
    path = file or settings.layout.integrations_path
    if path is None:
        fail("no integrations file: pass --file or set OSVI_INTEGRATIONS")
    try:
        integrations = load_integrations(path)
    except IntegrationsError as exc:
        fail(str(exc))
    if name not in integrations:
        fail(f"no integration named {name!r} in {path} (has: {', '.join(integrations)})")
    integration = integrations[name]
    method, target, headers, body = request_for(integration, integration.tokens[0],
                                                SAMPLE_AUTO_BODY, url)
    console.print(f"{method} {target}", highlight=False)
    try:
        response = httpx.request(method, target, headers=headers, content=body, timeout=15)
    except httpx.HTTPError as exc:
        fail(f"could not reach {target}: {exc}")
    console.print(f"{response.status_code} {response.text}", highlight=False)
    if not response.is_success:
        raise typer.Exit(1)
