"""``invoicebus dlq list|replay``: the dead-letter queue."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .context import Context
from .output import EXIT_REFUSED, EXIT_UNAVAILABLE, emit, fail

app = typer.Typer(help="The dead-letter queue: refused or undeliverable messages.")


@app.command("list")
def dlq_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Show at most this many")] = 1000,
) -> None:
    """Show dead-lettered messages (one JSON line each) without removing them."""
    context: Context = ctx.obj
    for letter in context.call(lambda c: c.dlq_list(limit)):
        emit(letter.as_dict(), pretty=False)


@app.command("replay")
def dlq_replay(
    ctx: typer.Context,
    message_id: Annotated[
        list[str] | None, typer.Option(help="Replay this message (repeatable)")
    ] = None,
    all_messages: Annotated[bool, typer.Option("--all", help="Replay every message")] = False,
    limit: Annotated[int, typer.Option(help="Look at most at this many")] = 1000,
) -> None:
    """Republish dead letters to their original exchange and routing key, without the error
    headers; each leaves the dead-letter queue once its copy is confirmed."""
    if not message_id and not all_messages:
        fail(EXIT_UNAVAILABLE, "give --message-id ID (repeatable) or --all")
    ids = None if all_messages else message_id
    context: Context = ctx.obj
    replayed = context.call(lambda c: c.dlq_replay(ids, limit=limit))
    for letter in replayed:
        emit(letter.as_dict(), pretty=False)
    print(f"replayed {len(replayed)} message(s)", file=sys.stderr)
    missing = set(ids or ()) - {letter.message_id for letter in replayed}
    if missing:
        fail(EXIT_REFUSED, f"not found in the dead-letter queue: {', '.join(sorted(missing))}")
