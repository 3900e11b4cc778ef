"""Whether a service can do its work: its broker connection is up and its database answers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from faststream.rabbit import RabbitBroker
from pymongo import AsyncMongoClient

from ..querying.fields import Document

Readiness = Callable[[], Awaitable[bool]]

#: Upper bound of each probe, so /readyz answers quickly while a server is away.
PROBE_TIMEOUT_SECONDS = 2.0


def readiness(broker: RabbitBroker, mongo: AsyncMongoClient[Document]) -> Readiness:
    async def ready() -> bool:
        if not await broker.ping(timeout=PROBE_TIMEOUT_SECONDS):
            return False
        try:
            await asyncio.wait_for(mongo.admin.command("ping"), PROBE_TIMEOUT_SECONDS)
        except Exception:
            return False
        return True

    return ready
