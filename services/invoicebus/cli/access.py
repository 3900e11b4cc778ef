"""``invoicebus access grant|revoke|list|broker-permissions``: who may act on which entity.

Operator tools: they change the grants in MongoDB directly (the services see a grant at once
and a revoke within ``INVOICEBUS_GRANT_CACHE_SECONDS``), and print the RabbitMQ permissions
that keep a tenant's broker user to its own entities' events.
"""

from __future__ import annotations

import re
import sys
from enum import StrEnum
from typing import Annotated

import typer

from invoicebus_contracts import ENTITY_ID_PATTERN

from ..adapters.mongo.grants import MongoGrants
from ..broker_permissions import definitions, permissions, rabbitmqctl_lines
from . import lazy
from .context import Context
from .database import with_database
from .output import EXIT_REFUSED, emit, fail

app = lazy.app(help="Grants: which principal (broker user) may act on which entity.")


def _entity_id(value: str | None) -> str | None:
    if value is not None and not re.match(ENTITY_ID_PATTERN, value):
        raise typer.BadParameter("an entity id is ent_ and 24 lowercase hex digits")
    return value


Principal = Annotated[str, typer.Option(help="The principal: a RabbitMQ user name")]
Entity = Annotated[str, typer.Option(help="The entity, ent_...", callback=_entity_id)]


@lazy.command_of(app, "grant")
def grant(ctx: typer.Context, principal: Principal, entity: Entity) -> None:
    """Let PRINCIPAL act on ENTITY (at once, in every service replica)."""
    context: Context = ctx.obj
    if not with_database(context.settings, lambda db: MongoGrants(db).grant(principal, entity)):
        fail(EXIT_REFUSED, f"no entity {entity}")
    print(f"granted {entity} to {principal}; re-run `invoicebus access broker-permissions"
          f" --principal {principal}` for its events", file=sys.stderr)  # fmt: skip


@lazy.command_of(app, "revoke")
def revoke(ctx: typer.Context, principal: Principal, entity: Entity) -> None:
    """Withdraw PRINCIPAL's grant on ENTITY (effective within the grant cache time)."""
    context: Context = ctx.obj
    if not with_database(context.settings, lambda db: MongoGrants(db).revoke(principal, entity)):
        fail(EXIT_REFUSED, f"{principal} holds no grant on {entity}")
    seconds = context.settings.grant_cache_seconds
    print(f"revoked {entity} from {principal}; every service replica stops honouring it within"
          f" {seconds:g}s. Re-run `invoicebus access broker-permissions --principal"
          f" {principal}` to stop its events too", file=sys.stderr)  # fmt: skip


@lazy.command_of(app, "list")
def list_grants(
    ctx: typer.Context,
    principal: Annotated[str | None, typer.Option(help="Only this principal's grants")] = None,
    entity: Annotated[
        str | None, typer.Option(help="Only this entity's grants", callback=_entity_id)
    ] = None,
) -> None:
    """One JSON line per grant: principal, entity id and name."""
    context: Context = ctx.obj
    grants = with_database(
        context.settings,
        lambda db: MongoGrants(db).listing(principal=principal, entity_id=entity),
    )
    for found in grants:
        emit(
            {"principal": found.principal, "entity_id": found.entity_id, "name": found.entity_name},
            pretty=False,
        )


class Format(StrEnum):
    RABBITMQCTL = "rabbitmqctl"
    JSON = "json"


@lazy.command_of(app, "broker-permissions")
def broker_permissions(
    ctx: typer.Context,
    principal: Principal,
    vhost: Annotated[str, typer.Option(help="The RabbitMQ virtual host")] = "/",
    output: Annotated[
        Format, typer.Option("--format", help="rabbitmqctl lines, or a definitions fragment")
    ] = Format.RABBITMQCTL,
) -> None:
    """Print the RabbitMQ permissions of PRINCIPAL's broker user, from its grants now (an
    admin's from INVOICEBUS_ADMINS). Run it again after every grant or revoke."""
    context: Context = ctx.obj
    settings = context.settings
    admin = principal in settings.admins
    grants = [] if admin else with_database(
        settings, lambda db: MongoGrants(db).listing(principal=principal)
    )  # fmt: skip
    perms = permissions(settings.topology, [g.entity_id for g in grants], admin=admin)
    if output is Format.JSON:
        print(definitions(principal, vhost, perms))
    else:
        print("\n".join(rabbitmqctl_lines(principal, vhost, perms)))
