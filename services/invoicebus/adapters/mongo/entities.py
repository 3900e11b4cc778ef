"""Entity lookups for ``tenancy.Tenancy`` (which entity a message acts on, for whom)."""

from __future__ import annotations

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from invoicebus_contracts import Resource

from ...querying.fields import Document
from .client import collection
from .grants import MongoGrants


class MongoEntities:
    """The ``tenancy.EntityLookups`` of both services."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.entities = collection(db, Resource.ENTITY)
        self.grants = MongoGrants(db)

    async def first_entity_id(self) -> str | None:
        doc = await self.entities.find_one({}, {"_id": 1}, sort=[("_id", ASCENDING)])
        return doc["_id"] if doc else None

    async def entity_exists(self, entity_id: str) -> bool:
        return await self.entities.count_documents({"_id": entity_id}, limit=1) == 1

    async def first_granted(self, principal: str) -> str | None:
        return await self.grants.first_granted(principal)

    async def granted(self, principal: str, entity_id: str) -> bool:
        return await self.grants.granted(principal, entity_id)
