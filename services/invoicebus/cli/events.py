"""``invoicebus events tail``: the events the services publish, live."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from invoicebus_client import InvoicebusClient

from .context import Context
from .output import emit

app = typer.Typer(help="Events published by the services.")


@app.command("tail")
def events_tail(
    ctx: typer.Context,
    binding: Annotated[
        list[str] | None,
        typer.Option(help="Routing-key pattern, e.g. customer.* (repeatable; default: #)"),
    ] = None,
) -> None:
    """Print events live, one JSON line each, until Ctrl-C."""
    context: Context = ctx.obj
    bindings = binding or ["#"]

    def ready() -> None:
        print(
            f"listening on {context.settings.topology.events_exchange}"
            f" ({', '.join(bindings)}); Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )

    async def tail(client: InvoicebusClient) -> None:
        async for event in client.tail(bindings, on_ready=ready):
            emit(event.as_dict(), pretty=False)

    try:
        context.call(tail)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
