"""``invoicebus run``, ``invoicebus asyncapi`` and ``invoicebus openapi``: the system itself,
its contract, and its HTTP API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def run_system(ctx: typer.Context) -> None:
    """Start the whole system: broker check, MongoDB (embedded unless MONGODB_URL), the
    command and query services and the HTTP gateway; "running" once all answer /readyz. Stops
    cleanly on Ctrl-C/SIGTERM."""
    from ..launcher import launch  # the services' libraries load only for this command

    raise typer.Exit(launch(ctx.obj.settings))


def asyncapi(
    ctx: typer.Context,
    yaml: Annotated[bool, typer.Option("--yaml", help="YAML instead of JSON")] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to this file, not stdout"),
    ] = None,
) -> None:
    """Print (or write) the AsyncAPI 3.0 document of the wire contract."""
    from ..asyncapi import render

    text = render(yaml_format=yaml, prefix=ctx.obj.settings.prefix)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


def openapi(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to this file, not stdout"),
    ] = None,
) -> None:
    """Print (or write) the OpenAPI 3.1 document of the HTTP gateway (docs/openapi.json)."""
    from ..gateway.app import create_app
    from ..gateway.openapi import render
    from ..settings import Settings

    text = render(create_app(Settings()))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
