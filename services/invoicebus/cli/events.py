"""``invoicebus events tail``: the events the services publish, live."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from invoicebus_client import InvoicebusClient
from invoicebus_contracts import Resource

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
    tenant: Annotated[
        bool,
        typer.Option(
            "--tenant",
            help="Every entity of yours (entity.list), from the tenant events exchange",
        ),
    ] = False,
) -> None:
    """Print events live, one JSON line each, until Ctrl-C.

    From the events exchange (trusted subscribers, admins); with --entity or --tenant, from
    the tenant events exchange, which is all a tenant's broker user may read."""
    context: Context = ctx.obj
    topology = context.settings.topology
    bindings = binding or ["#"]

    async def tail(client: InvoicebusClient) -> None:
        entity_ids: list[str] | None = None
        if tenant:
            entity_ids = [e["id"] async for e in client.iterate_all(Resource.ENTITY)]
        elif context.entity_id:
            entity_ids = [context.entity_id]
        exchange = topology.events_exchange if entity_ids is None else (
            f"{topology.tenant_events_exchange} for {', '.join(entity_ids) or 'no entity'}"
        )  # fmt: skip

        def ready() -> None:
            print(
                f"listening on {exchange} ({', '.join(bindings)}); Ctrl-C to stop",
                file=sys.stderr,
                flush=True,
            )

        async for event in client.tail(bindings, entity_ids=entity_ids, on_ready=ready):
            emit(event.as_dict(), pretty=False)

    try:
        context.call(tail)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
