"""The operator commands' way to MongoDB (``access``, ``keys``): grants and API keys live
there, not on the bus.

The URL is ``MONGODB_URL``; without it, the embedded database ``invoicebus run`` starts
(``127.0.0.1``, ``INVOICEBUS_EMBEDDED_MONGO_PORT``), so the commands work next to ``make run``
with no setting at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from ..adapters.mongo.client import connect
from ..adapters.mongo.embedded import url_for
from ..querying.fields import Document
from ..settings import Settings
from .output import EXIT_UNAVAILABLE, fail, run

T = TypeVar("T")


def mongodb_url(settings: Settings) -> str:
    return settings.mongodb_url or url_for(settings.embedded_mongo_port)


def with_database(
    settings: Settings, action: Callable[[AsyncDatabase[Document]], Awaitable[T]]
) -> T:
    """``action`` on the services' database; an unreachable server exits with code 2."""
    url = mongodb_url(settings)

    async def connected() -> T:
        client = connect(url)
        try:
            return await action(client[settings.database])
        finally:
            await client.close()

    try:
        return run(connected())
    except PyMongoError as exc:
        where = "MONGODB_URL" if settings.mongodb_url else f"the embedded database ({url})"
        fail(EXIT_UNAVAILABLE, f"cannot use {where}: {exc}")
