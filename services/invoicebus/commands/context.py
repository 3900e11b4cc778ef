"""What a command handler is given and what it returns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from invoicebus_contracts import Resource

from ..domain.records import Event, IdempotencyKey, M, Record
from .ports import Store


@dataclass(frozen=True)
class CommandContext:
    resource: Resource
    entity_id: str | None  # None only for entity.create
    message_id: str | None  # the idempotency key, when the client gave one
    fingerprint: str  # what "the same command" means for that key

    @classmethod
    def of(
        cls, resource: Resource, command: BaseModel, entity_id: str | None, message_id: str | None
    ) -> CommandContext:
        digest = hashlib.sha256(
            f"{resource.create_key}\0{entity_id}\0{command.model_dump_json()}".encode()
        ).hexdigest()
        return cls(resource, entity_id, message_id, digest)

    @property
    def key(self) -> IdempotencyKey | None:
        """The idempotency key of the command's own resource (none without a message_id)."""
        if not self.message_id:
            return None
        return IdempotencyKey(self.resource.create_key, self.message_id, self.fingerprint)

    def record(self, resource: Resource, model: M) -> Record[M]:
        """A new record of ``model`` with its pending ``created`` event, which correlates with
        this command (also for resources created on the side, such as an item's taxes)."""
        return Record(resource, model, Event.created(resource, self.message_id))


@dataclass
class Outcome:
    """The created (or, for a repeated command, the original) record, and any records the
    command created on the side (taxes an item created), whose events go out first."""

    record: Record[Any]
    side_effects: list[Record[Any]] = field(default_factory=list)


class Handler(Protocol):
    async def __call__(self, command: Any, ctx: CommandContext, store: Store) -> Outcome: ...
