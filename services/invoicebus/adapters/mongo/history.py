"""The stored events, as a history: every resource's ``created`` event, in id order across the
collections, for ``events.replay``. Implements ``queries.ports.EventHistory``.

Each collection is read in id order (``outbox.created_since``) and the streams are merged by
the ids' hex part, which sorts by the second of creation first; nothing is held in memory
beyond one batch per collection.
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from invoicebus_contracts import Resource

from ...domain.ids import hex_part
from ...domain.records import Record
from ...querying.fields import Document
from . import outbox
from .client import collection


class MongoEventHistory:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def created_since(
        self,
        resources: Sequence[Resource],
        since: datetime,
        *,
        entity_id: str | None,
        after: str | None,
        batch_size: int,
    ) -> AsyncGenerator[Record[Any], None]:
        """Records of ``resources`` created at or after ``since``, after the hex id ``after``,
        oldest first."""
        streams = [
            outbox.created_since(
                collection(self.db, resource), resource, since, entity_id=entity_id,
                after=None if after is None else f"{resource.id_prefix}_{after}",
                batch_size=batch_size,
            )
            for resource in resources
        ]  # fmt: skip
        heads: list[tuple[str, int, Record[Any]]] = []
        try:
            for index, stream in enumerate(streams):
                await _push(heads, index, stream)
            while heads:
                _, index, record = heapq.heappop(heads)
                yield record
                await _push(heads, index, streams[index])
        finally:  # a caller that stops early closes the database cursors now
            for stream in streams:
                await stream.aclose()


async def _push(
    heads: list[tuple[str, int, Record[Any]]], index: int, stream: AsyncIterator[Record[Any]]
) -> None:
    record = await anext(stream, None)
    if record is not None:
        heapq.heappush(heads, (hex_part(record.id) or "", index, record))
