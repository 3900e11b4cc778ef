"""``invoicebus dlq list|replay|discard``: the dead-letter queue, chosen by message id, error
code or entity."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import lazy
from .context import Context
from .output import EXIT_REFUSED, EXIT_USAGE, emit, fail, note, one_line

if TYPE_CHECKING:
    from invoicebus_client import DeadLetter

app = lazy.app(help="The dead-letter queue: refused or undeliverable messages.")

MessageIds = Annotated[
    list[str] | None, typer.Option("--message-id", metavar="ID", help="This message (repeatable)")
]
ErrorCodeOpt = Annotated[
    str | None,
    typer.Option(metavar="CODE", help="Only those refused with this code, e.g. tax_not_found"),
]
EntityOpt = Annotated[
    str | None,
    typer.Option("--entity", metavar="ENT", help="Only those sent to this entity (x-entity-id)"),
]
LimitOpt = Annotated[int, typer.Option(metavar="N", help="Look at most at this many")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every dead letter (when no filter is given)")]


def _filters(
    message_ids: list[str] | None, error_code: str | None, entity: str | None
) -> dict[str, Any]:
    return {"message_ids": message_ids or None, "error_code": error_code, "entity_id": entity}


@lazy.command_of(app, "list")
def dlq_list(
    ctx: typer.Context,
    message_id: MessageIds = None,
    error_code: ErrorCodeOpt = None,
    entity: EntityOpt = None,
    limit: LimitOpt = 1000,
) -> None:
    """Show dead-lettered messages (one JSON line each) without removing them."""
    context: Context = ctx.obj
    where = _filters(message_id, error_code, entity)
    for letter in context.call(lambda c: c.dlq_list(limit, **where)):
        emit(letter.as_dict(), pretty=False)


@lazy.command_of(app, "replay")
def dlq_replay(
    ctx: typer.Context,
    message_id: MessageIds = None,
    error_code: ErrorCodeOpt = None,
    entity: EntityOpt = None,
    all_messages: AllOpt = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replay even those whose body still breaks the contract"),
    ] = False,
    limit: LimitOpt = 1000,
) -> None:
    """Republish dead letters to their original exchange and routing key, without the error
    headers; each leaves the dead-letter queue once its copy is confirmed. A message whose body
    still breaks the contract would only come straight back: it stays, with the reason, unless
    --force."""
    where = _filters(message_id, error_code, entity)
    _chosen(where, all_messages, "replay")
    context: Context = ctx.obj
    outcome = context.call(lambda c: c.dlq_replay(limit=limit, force=force, **where))
    for letter in outcome.replayed:
        emit(letter.as_dict(), pretty=False)
    for kept in outcome.kept:
        note(
            f"kept {kept.letter.message_id}: {one_line(kept.reason.model_dump(mode='json'))}"
            " (--force replays it anyway)"
        )
    note(f"replayed {len(outcome.replayed)} message(s), kept {len(outcome.kept)}")
    _missing(message_id, [*outcome.replayed, *(k.letter for k in outcome.kept)])
    if outcome.kept:
        raise typer.Exit(EXIT_REFUSED)


@lazy.command_of(app, "discard")
def dlq_discard(
    ctx: typer.Context,
    message_id: MessageIds = None,
    error_code: ErrorCodeOpt = None,
    entity: EntityOpt = None,
    all_messages: AllOpt = False,
    limit: LimitOpt = 1000,
) -> None:
    """Remove dead letters for good (each printed as a JSON line as it goes)."""
    where = _filters(message_id, error_code, entity)
    _chosen(where, all_messages, "discard")
    context: Context = ctx.obj
    discarded = context.call(lambda c: c.dlq_discard(limit=limit, everything=all_messages, **where))
    for letter in discarded:
        emit(letter.as_dict(), pretty=False)
    note(f"discarded {len(discarded)} message(s)")
    _missing(message_id, discarded)


def _chosen(where: dict[str, Any], all_messages: bool, verb: str) -> None:
    given = any(v is not None for v in where.values())
    if given == all_messages:
        fail(
            EXIT_USAGE,
            f"give --message-id ID (repeatable), --error-code or --entity to choose what to"
            f" {verb}, or --all for every dead letter (not both)",
        )


def _missing(message_ids: list[str] | None, found: list[DeadLetter]) -> None:
    missing = set(message_ids or ()) - {letter.message_id for letter in found}
    if missing:
        fail(EXIT_REFUSED, f"not found in the dead-letter queue: {', '.join(sorted(missing))}")
