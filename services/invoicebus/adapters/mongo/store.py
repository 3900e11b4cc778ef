"""The write side's repository: documents and their outbox events, written atomically.

A created document carries its own ``created`` event (``_event``) and an ``_pending`` flag,
so storing the resource and queueing its event is one single-document write: atomic on any
MongoDB, with no multi-document transaction. Idempotency keys (``_idem``) sit in the same
document under a unique index, so a duplicate command is stopped by the index, not by a
read-then-write check.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from invoicebus_contracts import ErrorCode, Resource

from ...domain.errors import DomainError
from . import taxes
from .client import COLLECTIONS, Document, collection

_ENTITY_ID = re.compile(r"^ent_[0-9a-f]{24}$")
IDEMPOTENCY_INDEX = "idempotency_key"
PENDING_INDEX = "outbox_pending"


class Store:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self._first_entity: str | None = None  # entities are never deleted: safe to cache

    async def ensure_indexes(self) -> None:
        for resource in COLLECTIONS:
            coll = collection(self.db, resource)
            await coll.create_index(
                [("entity_id", ASCENDING), ("_idem.command", ASCENDING), ("_idem.key", ASCENDING)],
                name=IDEMPOTENCY_INDEX,
                unique=True,
                partialFilterExpression={"_idem.key": {"$exists": True}},
            )
            await coll.create_index(
                [("_pending", ASCENDING), ("created_at", ASCENDING)],
                name=PENDING_INDEX,
                partialFilterExpression={"_pending": True},
            )
        await taxes.ensure_indexes(collection(self.db, Resource.TAX))

    # -- entities ---------------------------------------------------------------------------

    async def first_entity_id(self) -> str | None:
        if self._first_entity is None:
            doc = await collection(self.db, Resource.ENTITY).find_one(
                {}, {"_id": 1}, sort=[("_id", ASCENDING)]
            )
            self._first_entity = doc["_id"] if doc else None
        return self._first_entity

    async def entity_exists(self, entity_id: str) -> bool:
        coll = collection(self.db, Resource.ENTITY)
        return await coll.count_documents({"_id": entity_id}, limit=1) == 1

    async def resolve_entity(self, header: str | None) -> str:
        """The entity a command or list request acts on: the ``x-entity-id`` header, checked;
        else the first created entity. Unknown is ``entity_not_found``, never a fallback."""
        if header:
            if _ENTITY_ID.match(header) and await self.entity_exists(header):
                return header
            raise DomainError(
                ErrorCode.ENTITY_NOT_FOUND,
                f"entity {header[:64]!r} does not exist",
                ["x-entity-id"],
            )
        first = await self.first_entity_id()
        if first is None:
            raise DomainError(
                ErrorCode.ENTITY_NOT_FOUND,
                "no entity exists yet: create one first with an entity.create command",
                ["x-entity-id"],
            )
        return first

    # -- writes -----------------------------------------------------------------------------

    async def insert(self, resource: Resource, doc: Document) -> Document:
        """Store a new document; for a repeated idempotency key, return the original instead.

        The same key with a different command fingerprint is an ``idempotency_conflict``.
        """
        try:
            await collection(self.db, resource).insert_one(doc)
        except DuplicateKeyError as exc:
            if "_idem" not in doc or "_idem.key" not in (exc.details or {}).get("keyPattern", {}):
                raise
            original = await self.replay(resource, doc.get("entity_id"), **doc["_idem"])
            if original is None:  # pragma: no cover - the index said it exists
                raise
            return original
        return doc

    async def replay(
        self, resource: Resource, entity_id: str | None, *, command: str, key: str, fingerprint: str
    ) -> Document | None:
        """The document an earlier delivery of this command created, if any.

        The same key with a different command fingerprint is an ``idempotency_conflict``.
        """
        original = await collection(self.db, resource).find_one(
            {"entity_id": entity_id, "_idem.command": command, "_idem.key": key}
        )
        if original is not None and original["_idem"]["fingerprint"] != fingerprint:
            raise DomainError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                f"message_id {key!r} was already used for a different {command} command;"
                " use a new message_id for a new command",
                ["message_id"],
            )
        return original

    async def mark_sent(self, resource: Resource, doc_id: str) -> None:
        await collection(self.db, resource).update_one(
            {"_id": doc_id}, {"$set": {"_pending": False}}
        )

    async def pending(self, created_before: datetime) -> AsyncIterator[tuple[Resource, Document]]:
        """Documents whose event is still unsent, oldest first, for the outbox relay."""
        for resource in COLLECTIONS:
            cursor = collection(self.db, resource).find(
                {"_pending": True, "created_at": {"$lt": created_before}},
                sort=[("created_at", ASCENDING)],
            )
            async for doc in cursor:
                yield resource, doc

    async def find(self, resource: Resource, query: dict[str, Any]) -> list[Document]:
        return await collection(self.db, resource).find(query).to_list()
