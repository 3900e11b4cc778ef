"""The read side's repository: pages, counts, and the indexes that keep pages cheap.

Reads go to the primary (the driver's default) and nothing is cached, so a list sees every
write acknowledged before it: a client that has seen ``customer.created`` (published only
after the write) finds that customer in its next list.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from invoicebus_contracts import Resource

from ...querying.fields import FIELDS, storage_path
from .client import COLLECTIONS, Document, collection

# Internal fields a page never needs (see documents.py); leaving them out saves the transfer.
_INTERNAL = {"_search": 0, "_idem": 0, "_event": 0, "_pending": 0}


def index_name(field: str) -> str:
    return f"list_{field}"


def list_index_keys(resource: Resource, field: str) -> list[tuple[str, int]]:
    """``(entity_id, field, _id)``: the scope, then the sort order with ties broken by id."""
    path = storage_path(field)
    keys = [("entity_id", ASCENDING)] if FIELDS[resource].scoped else []
    keys.append((path, ASCENDING))
    if path != "_id":
        keys.append(("_id", ASCENDING))
    return keys


class Reader:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def ensure_query_indexes(self) -> None:
        """One index per sortable field (ascending serves both directions); idempotent."""
        for resource in COLLECTIONS:
            models = [
                IndexModel(keys, name=index_name(field))
                for field in FIELDS[resource].sortable
                if (keys := list_index_keys(resource, field)) != [("_id", ASCENDING)]
            ]
            await collection(self.db, resource).create_indexes(models)

    async def find(
        self, resource: Resource, filter: dict[str, Any], sort: list[tuple[str, int]], limit: int
    ) -> list[Document]:
        cursor = collection(self.db, resource).find(
            filter, projection=_INTERNAL, sort=sort, limit=limit
        )
        return await cursor.to_list()

    async def count(self, resource: Resource, filter: dict[str, Any]) -> int:
        return await collection(self.db, resource).count_documents(filter)

    async def find_one(
        self, resource: Resource, filter: dict[str, Any], fields: list[str]
    ) -> Document | None:
        return await collection(self.db, resource).find_one(filter, projection=fields)
