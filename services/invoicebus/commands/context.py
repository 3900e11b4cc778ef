"""What a command handler is given and what it returns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from invoicebus_contracts import Resource

from ..adapters.mongo.client import Document
from ..adapters.mongo.documents import to_document
from ..adapters.mongo.store import Store
from ..domain.ids import new_event_id


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

    def new_document(
        self, resource: Resource, model: BaseModel, *, primary: bool = True
    ) -> Document:
        """A document for ``model`` with its pending ``created`` event (and the idempotency key
        when it is the command's own resource, not a side effect such as an auto-created tax)."""
        doc = to_document(resource, model)
        doc["_event"] = {
            "id": new_event_id(),
            "type": resource.created_key,
            "correlation_id": self.message_id,
        }
        doc["_pending"] = True
        if primary and self.message_id:
            doc["_idem"] = {
                "command": self.resource.create_key,
                "key": self.message_id,
                "fingerprint": self.fingerprint,
            }
        return doc


@dataclass
class Outcome:
    """The created (or, for a repeated command, the original) document, and any documents the
    command created on the side (taxes an item created), whose events go out first."""

    resource: Resource
    document: Document
    side_effects: list[tuple[Resource, Document]] = field(default_factory=list)


class Handler(Protocol):
    async def __call__(self, command: Any, ctx: CommandContext, store: Store) -> Outcome: ...
