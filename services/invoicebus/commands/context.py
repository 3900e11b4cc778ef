"""What a command handler is given and what it returns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from invoicebus_contracts import Resource

from ..access import Acting
from ..domain.records import Event, IdempotencyKey, M, Record
from .ports import Store


def idempotency_scope(resource: Resource, principal: str | None) -> str:
    """Among whose commands a ``message_id`` must be unique, besides the command type and the
    entity (which every key of a tenant's resource is stored with): an ``entity.create`` acts
    on no entity, so its keys are the sender's own. Another principal's key is then simply
    another command: it neither returns that principal's entity nor conflicts with it."""
    return "" if resource.tenant_scoped else principal or ""


@dataclass(frozen=True)
class CommandContext:
    resource: Resource
    entity_id: str | None  # None only for entity.create
    message_id: str | None  # the idempotency key, when the client gave one
    fingerprint: str  # what "the same command" means for that key
    principal: str | None = None  # who sent it (None: anonymous, with authorization off)

    @classmethod
    def of(
        cls, resource: Resource, command: BaseModel, acting: Acting, message_id: str | None
    ) -> CommandContext:
        entity_id = acting.entity_id
        digest = hashlib.sha256(
            f"{resource.create_key}\0{entity_id}\0{command.model_dump_json()}".encode()
        ).hexdigest()
        return cls(resource, entity_id, message_id, digest, acting.caller.principal)

    @property
    def key(self) -> IdempotencyKey | None:
        """The idempotency key of the command's own resource (none without a message_id)."""
        if not self.message_id:
            return None
        scope = idempotency_scope(self.resource, self.principal)
        return IdempotencyKey(self.resource.create_key, self.message_id, self.fingerprint, scope)

    def record(self, resource: Resource, model: M) -> Record[M]:
        """A new record of ``model`` with its pending ``created`` event, which correlates with
        this command (also for resources created on the side, such as an item's taxes). A new
        entity is granted to the principal that creates it, in the same write."""
        grants = (self.principal,) if resource is Resource.ENTITY and self.principal else ()
        return Record(resource, model, Event.created(resource, self.message_id), grants=grants)


@dataclass
class Outcome:
    """The created (or, for a repeated command, the original) record, and any records the
    command created on the side (taxes an item created), whose events go out first."""

    record: Record[Any]
    side_effects: list[Record[Any]] = field(default_factory=list)


class Handler(Protocol):
    async def __call__(self, command: Any, ctx: CommandContext, store: Store) -> Outcome: ...


class Builder(Protocol):
    """The pure half of a handler whose command creates exactly one record: the record to
    store (the batched write path stores many at once)."""

    def __call__(self, command: Any, ctx: CommandContext) -> Record[Any]: ...
