"""``invoicebus keys create|revoke|list``: API keys, a principal's credential at the HTTP
gateway. The key is printed once by ``create``; only its SHA-256 is stored."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from ..adapters.mongo.keys import KeyInfo, MongoApiKeys
from . import lazy
from .context import Context
from .database import with_database
from .output import EXIT_REFUSED, EXIT_UNAVAILABLE, emit, fail

app = lazy.app(help="API keys for the HTTP gateway (stored as hashes only).")


def _shown(info: KeyInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "principal": info.principal,
        "prefix": info.prefix,
        "created_at": info.created_at.isoformat(),
        "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
    }


@lazy.command_of(app, "create")
def create(
    ctx: typer.Context,
    principal: Annotated[str, typer.Option(help="Whom the key acts as")],
) -> None:
    """Make a key for PRINCIPAL and print it, once: it is not stored and cannot be shown again."""
    context: Context = ctx.obj
    key, info = with_database(context.settings, lambda db: MongoApiKeys(db).create(principal))
    emit({**_shown(info), "key": key})
    print("store the key now: only its hash is kept", file=sys.stderr)


@lazy.command_of(app, "revoke")
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str | None, typer.Option("--id", help="The key's id (key_...)")] = None,
    prefix: Annotated[
        str | None, typer.Option(help="The key's first characters, as `keys list` shows")
    ] = None,
) -> None:
    """Revoke a key by id or prefix (effective within INVOICEBUS_GRANT_CACHE_SECONDS)."""
    if bool(key_id) == bool(prefix):
        fail(EXIT_UNAVAILABLE, "give --id or --prefix")
    context: Context = ctx.obj
    try:
        revoked = with_database(
            context.settings, lambda db: MongoApiKeys(db).revoke(key_id=key_id, prefix=prefix)
        )
    except ValueError as exc:
        fail(EXIT_UNAVAILABLE, f"invoicebus: {exc}")
    if not revoked:
        fail(EXIT_REFUSED, "no such unrevoked key")
    for info in revoked:
        emit(_shown(info), pretty=False)


@lazy.command_of(app, "list")
def list_keys(
    ctx: typer.Context,
    principal: Annotated[str | None, typer.Option(help="Only this principal's keys")] = None,
) -> None:
    """One JSON line per key: id, principal, prefix, created and revoked; never the key."""
    context: Context = ctx.obj
    for info in with_database(context.settings, lambda db: MongoApiKeys(db).listing(principal)):
        emit(_shown(info), pretty=False)
