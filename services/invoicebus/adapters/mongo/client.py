"""Connecting to MongoDB (or any Mongo-wire server such as the embedded SecantusDB)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from invoicebus_contracts import Resource

from ...querying.fields import Document

COLLECTIONS: dict[Resource, str] = {
    Resource.ENTITY: "entities",
    Resource.CUSTOMER: "customers",
    Resource.TAX: "taxes",
    Resource.ITEM: "items",
}


def connect(url: str, listeners: Sequence[Any] = ()) -> AsyncMongoClient[Document]:
    """A client of ``url``; ``listeners`` watch its commands (tracing, when it is on)."""
    # tz_aware: dates come back as aware UTC datetimes, the only kind the domain uses.
    # Short timeouts fail fast while the server is away: callers retry with backoff themselves.
    return AsyncMongoClient(
        url,
        tz_aware=True,
        serverSelectionTimeoutMS=3000,
        connectTimeoutMS=3000,
        socketTimeoutMS=20000,
        event_listeners=listeners,
    )


def collection(db: AsyncDatabase[Document], resource: Resource) -> AsyncCollection[Document]:
    return db[COLLECTIONS[resource]]


def refused_by_index_on(exc: DuplicateKeyError, field: str) -> bool:
    """Whether the unique index that refused a write covers ``field``."""
    return field in (exc.details or {}).get("keyPattern", {})


async def ping(client: AsyncMongoClient[Document]) -> bool:
    try:
        await client.admin.command("ping")
    except Exception:
        return False
    return True
