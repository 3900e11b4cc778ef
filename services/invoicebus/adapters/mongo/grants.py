"""Grants: which principals may act on an entity. Written, indexed and queried here only.

A grant is the principal's name in the ``_grants`` array of the entity's own document
(``querying.fields.GRANTS_PATH``), under a multikey index. Keeping it on the entity makes
``entity.create`` and the creator's grant one single-document write, and "the entities of
principal P" one index scan; entities are never deleted, so neither are their grants but by
``revoke``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from invoicebus_contracts import Resource

from ...querying.fields import GRANTS_PATH, Document
from .client import collection

GRANTS_INDEX = "entity_grants"
#: What a read that only wants the resource leaves out.
HIDDEN: dict[str, int] = {GRANTS_PATH: 0}


def stamp(doc: Document, principals: tuple[str, ...]) -> Document:
    """A new entity's document with its first grants (its creator)."""
    if principals:
        doc[GRANTS_PATH] = list(principals)
    return doc


@dataclass(frozen=True)
class Grant:
    principal: str
    entity_id: str
    entity_name: str


class MongoGrants:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.entities: AsyncCollection[Document] = collection(db, Resource.ENTITY)

    async def ensure_indexes(self) -> None:
        # (principal, _id): an entity's grants in creation order, so "the first entity
        # granted to P" is the first index entry, with no sort in memory.
        await self.entities.create_index(
            [(GRANTS_PATH, ASCENDING), ("_id", ASCENDING)], name=GRANTS_INDEX
        )

    async def granted(self, principal: str, entity_id: str) -> bool:
        query = {"_id": entity_id, GRANTS_PATH: principal}
        return await self.entities.count_documents(query, limit=1) == 1

    async def first_granted(self, principal: str) -> str | None:
        doc = await self.entities.find_one(
            {GRANTS_PATH: principal}, {"_id": 1}, sort=[("_id", ASCENDING)]
        )
        return doc["_id"] if doc else None

    async def grant(self, principal: str, entity_id: str) -> bool:
        """Grant ``entity_id`` to ``principal``; False if there is no such entity."""
        result = await self.entities.update_one(
            {"_id": entity_id}, {"$addToSet": {GRANTS_PATH: principal}}
        )
        return result.matched_count == 1

    async def revoke(self, principal: str, entity_id: str) -> bool:
        """Withdraw the grant; False if there was none."""
        result = await self.entities.update_one(
            {"_id": entity_id, GRANTS_PATH: principal}, {"$pull": {GRANTS_PATH: principal}}
        )
        return result.modified_count == 1

    async def listing(
        self, *, principal: str | None = None, entity_id: str | None = None
    ) -> list[Grant]:
        """Every grant, or those of one principal or one entity, by entity then principal."""
        query: Document = (
            {GRANTS_PATH: principal} if principal else {GRANTS_PATH: {"$exists": True}}
        )
        if entity_id:
            query["_id"] = entity_id
        cursor = self.entities.find(query, {GRANTS_PATH: 1, "name": 1}, sort=[("_id", ASCENDING)])
        return [
            Grant(name, doc["_id"], doc.get("name", ""))
            async for doc in cursor
            for name in sorted(doc.get(GRANTS_PATH, []))
            if principal is None or name == principal
        ]
