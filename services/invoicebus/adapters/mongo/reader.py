"""The read side's repository: pages, counts, and the indexes that keep pages cheap.

Reads go to the primary (the driver's default) and nothing is cached, so a list sees every
write acknowledged before it: a client that has seen ``customer.created`` (published only
after the write) finds that customer in its next list.

The query planner picks the index, with one exception. The embedded SecantusDB (0.7.0b3)
drops documents equal to an inclusive upper bound (``$lte``) when it plans that bound onto a
compound index with more fields after it, as every list index has (``_id`` last). For such
filters it is told which index to use (a hint): it then walks that index and evaluates the
whole filter, which is correct, if slower. MongoDB itself needs no such help.

Filters come in and documents go out as plain Python values (``querying/``'s); the BSON
conversion is ``documents.py``'s.

Every read carries ``maxTimeMS``: the server stops it at the time limit and answers
``MaxTimeMSExpired`` (code 50), which the driver raises as ``ExecutionTimeout`` and which is
the port's ``QueryTimeout`` here. (Elsewhere code 50 is a transient failure worth a retry; a
list over its budget is not: it would be just as costly again.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ExecutionTimeout

from invoicebus_contracts import Resource

from ...queries.ports import QueryTimeout
from ...querying.compiler import Filter
from ...querying.fields import FIELDS, Document, storage_path
from . import documents, grants, outbox
from .client import COLLECTIONS, collection
from .documents import from_bson, to_bson

# Internal fields a page never needs; leaving them out saves the transfer.
_INTERNAL = documents.HIDDEN | outbox.HIDDEN | grants.HIDDEN


def index_name(field: str) -> str:
    return f"list_{field}"


def list_index_keys(resource: Resource, field: str) -> list[tuple[str, int]]:
    """``(entity_id, field, _id)``: the scope, then the sort order with ties broken by id."""
    path = storage_path(field)
    keys = [("entity_id", ASCENDING)] if resource.tenant_scoped else []
    keys.append((path, ASCENDING))
    if path != "_id":
        keys.append(("_id", ASCENDING))
    return keys


class Reader:
    """The ``queries.ports.Reader`` of the query service."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self._secantus: bool | None = None

    async def ensure_query_indexes(self) -> None:
        """One index per sortable field (ascending serves both directions); idempotent.

        A key pattern that already has an index under another name (the write side may need
        the same one) is left alone: MongoDB refuses a second name for the same keys.
        """
        for resource in COLLECTIONS:
            coll = collection(self.db, resource)
            existing = {
                tuple(info["key"].items()): info["name"] async for info in await coll.list_indexes()
            }
            models = [
                IndexModel(keys, name=index_name(field))
                for field in FIELDS[resource].sortable
                if (keys := list_index_keys(resource, field)) != [("_id", ASCENDING)]
                and existing.get(tuple(keys), index_name(field)) == index_name(field)
            ]
            if models:
                await coll.create_indexes(models)

    async def find(
        self,
        resource: Resource,
        filter: Filter,
        sort: list[tuple[str, int]],
        limit: int,
        *,
        time_limit_ms: int,
    ) -> list[Document]:
        async with _time_limited():
            cursor = await self._find(resource, filter, sort, limit, time_limit_ms)
            return [from_bson(doc) async for doc in cursor]

    async def explain(
        self, resource: Resource, filter: Filter, sort: list[tuple[str, int]], limit: int
    ) -> dict[str, Any]:
        """The server's plan for ``find`` with the same arguments."""
        return await (await self._find(resource, filter, sort, limit, None)).explain()

    async def count(self, resource: Resource, filter: Filter, *, time_limit_ms: int) -> int:
        coll = collection(self.db, resource)
        hint = await self._hint(resource, [("_id", ASCENDING)], filter)
        async with _time_limited():
            return await coll.count_documents(to_bson(filter), maxTimeMS=time_limit_ms, **hint)

    async def find_one(
        self, resource: Resource, filter: Filter, fields: list[str], *, time_limit_ms: int
    ) -> Document | None:
        async with _time_limited():
            doc = await collection(self.db, resource).find_one(
                to_bson(filter), projection=fields, max_time_ms=time_limit_ms
            )
        return None if doc is None else from_bson(doc)

    async def _find(
        self,
        resource: Resource,
        filter: Filter,
        sort: list[tuple[str, int]],
        limit: int,
        time_limit_ms: int | None,
    ) -> AsyncCursor[Document]:
        hint = await self._hint(resource, sort, filter)
        return collection(self.db, resource).find(
            to_bson(filter),
            projection=_INTERNAL,
            sort=sort,
            limit=limit,
            max_time_ms=time_limit_ms,
            **hint,
        )

    async def is_secantus(self) -> bool:
        """Whether the server is the embedded SecantusDB rather than MongoDB."""
        if self._secantus is None:
            info = await self.db.command("buildInfo")
            self._secantus = "secantusVersion" in info
        return self._secantus

    async def _hint(
        self, resource: Resource, sort: list[tuple[str, int]], filter: Filter
    ) -> dict[str, Any]:
        """``hint`` for SecantusDB when the filter has a top-level ``$lte`` (see the module)."""
        upper_bounds = any(isinstance(c, dict) and "$lte" in c for c in filter.values())
        if not upper_bounds or not await self.is_secantus():
            return {}
        path = sort[0][0]
        return {"hint": list_index_keys(resource, "id" if path == "_id" else path)}


@asynccontextmanager
async def _time_limited() -> AsyncIterator[None]:
    """The server's ``MaxTimeMSExpired`` as the port's ``QueryTimeout``."""
    try:
        yield
    except ExecutionTimeout:
        raise QueryTimeout("database") from None
