"""``invoicebus events tail|replay``: the events the services publish, live or replayed from
storage into a queue of yours."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from invoicebus_contracts import Resource

from . import lazy
from .context import Context
from .output import emit, note

if TYPE_CHECKING:
    from invoicebus_client import InvoicebusClient

app = lazy.app(help="Events published by the services: live, or replayed from storage.")


@lazy.command_of(app, "tail")
def events_tail(
    ctx: typer.Context,
    binding: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY", help="Routing-key pattern, e.g. customer.* (repeatable; default: #)"
        ),
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
            entity_ids = [e.id async for e in client.iterate_all(Resource.ENTITY)]
        elif context.entity_id:
            entity_ids = [context.entity_id]
        exchange = topology.events_exchange if entity_ids is None else (
            f"{topology.tenant_events_exchange} for {', '.join(entity_ids) or 'no entity'}"
        )  # fmt: skip

        def ready() -> None:
            note(f"listening on {exchange} ({', '.join(bindings)}); Ctrl-C to stop")

        async for event in client.tail(bindings, entity_ids=entity_ids, on_ready=ready):
            emit(event.as_dict(), pretty=False)

    context.call(tail, interrupt_code=0)  # Ctrl-C is how it ends


def _time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO-8601 time, e.g. 2026-01-31 or 2026-01-31T09:30:00Z"
        ) from None


@lazy.command_of(app, "replay")
def events_replay(
    ctx: typer.Context,
    since: Annotated[
        datetime,
        typer.Option(
            parser=_time,
            metavar="TIME",
            help="Events of resources created at or after this time (ISO-8601; UTC by default)",
        ),
    ],
    to_queue: Annotated[
        str,
        typer.Option(metavar="QUEUE", help="Your queue to republish them to (it must exist)"),
    ],
    entity: Annotated[
        str | None,
        typer.Option(
            "--entity",
            metavar="ENT",
            help="Only this entity's events; default: the global --entity, else every entity's",
        ),
    ] = None,
    event_type: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            metavar="TYPE",
            help="Only this event type, e.g. customer.created"
            " (repeatable; default: every created event)",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(metavar="N", help="At most this many; default: all")
    ] = None,
) -> None:
    """Republish stored events, oldest first, to a queue you name, each with its original
    event id (message_id), correlation_id, headers and body: a new subscriber can backfill,
    then deduplicate on the event id as it does for live events."""
    context: Context = ctx.obj

    async def replay(client: InvoicebusClient) -> int:
        return await client.replay_events(
            to_queue, since, entity_id=entity or context.entity_id, types=event_type or (),
            limit=limit, on_page=lambda page: note(f"replayed {page.replayed} event(s)..."),
        )  # fmt: skip

    total = context.call(replay, interrupted=lambda: "interrupted; what was replayed stays")
    note(f"replayed {total} event(s) to {to_queue}")
