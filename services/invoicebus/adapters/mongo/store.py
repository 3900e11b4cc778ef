"""The write side's repository: records and their outbox events, written atomically.

Implements ``commands.ports.Store``. How a record and its event are laid out in one document,
and how a repeated command is recognised, is ``outbox.py``'s; how a batch's events are pending
under one marker is ``outbox_batches.py``'s; taxes have their own rules and class
(``taxes.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from invoicebus_contracts import Resource

from ...commands.ports import Backlog, PendingBatch
from ...domain.errors import DomainError
from ...domain.records import IdempotencyKey, M, Record
from ...querying.fields import Document
from . import outbox, outbox_batches
from .client import COLLECTIONS, collection
from .grants import MongoGrants
from .keys import MongoApiKeys
from .taxes import MongoTaxes


class MongoStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.taxes = MongoTaxes(db)

    async def ensure_indexes(self) -> None:
        for resource in COLLECTIONS:
            await outbox.ensure_indexes(collection(self.db, resource))
        await outbox_batches.ensure_indexes(self.db)
        await self.taxes.ensure_indexes()
        await MongoGrants(self.db).ensure_indexes()
        await MongoApiKeys(self.db).ensure_indexes()

    async def add(self, record: Record[M], key: IdempotencyKey | None) -> Record[M]:
        """Store a new record; for a repeated idempotency key, return the original instead."""
        return await outbox.insert(collection(self.db, record.resource), record, key)

    async def add_many(
        self, entries: Sequence[tuple[Record[Any], IdempotencyKey | None]]
    ) -> list[Record[Any] | DomainError]:
        """One ``insert_many`` per collection (see ``outbox.insert_many``), results in order.

        Two records or more are one batch: its marker is written first and its documents are
        not pending on their own (``outbox_batches``), so marking them sent is one delete. A
        lone record is pending on its own, as ``add``'s: one write fewer for a lone command."""
        batch = None
        if len(entries) > 1:
            batch = await outbox_batches.open_batch(self.db, [record for record, _ in entries])
            for record, _ in entries:
                record.batch = batch
        results: list[Record[Any] | DomainError | None] = [None] * len(entries)
        by_resource: dict[Resource, list[int]] = {}
        for index, (record, _) in enumerate(entries):
            by_resource.setdefault(record.resource, []).append(index)
        for resource, indexes in by_resource.items():
            found = await outbox.insert_many(
                collection(self.db, resource), resource, [entries[i] for i in indexes]
            )
            for index, result in zip(indexes, found, strict=True):
                results[index] = result
        if batch is not None and not any(
            r is e for r, (e, _) in zip(results, entries, strict=True)
        ):
            # Every command was a repeat or refused: no event will be marked sent to end it.
            await outbox_batches.close_batches(self.db, [batch])
        return [r for r in results if r is not None]

    async def mark_sent_many(self, records: Sequence[Record[Any]]) -> None:
        """The batches' markers go (one write); records pending on their own are updated."""
        await outbox_batches.close_batches(
            self.db, (record.batch for record in records if record.batch is not None)
        )
        by_resource: dict[Resource, list[str]] = {}
        for record in records:
            if record.batch is None:
                by_resource.setdefault(record.resource, []).append(record.id)
        for resource, ids in by_resource.items():
            await outbox.mark_sent_many(collection(self.db, resource), ids)

    async def find_original(
        self, resource: Resource, entity_id: str | None, key: IdempotencyKey
    ) -> Record[Any] | None:
        return await outbox.find_original(collection(self.db, resource), resource, entity_id, key)

    async def mark_sent(self, record: Record[Any]) -> None:
        await outbox.mark_sent(collection(self.db, record.resource), record.id)

    async def pending(self, created_before: datetime) -> AsyncIterator[Record[Any]]:
        """Records whose event is still unsent, oldest first per resource, for the relay."""
        for resource in COLLECTIONS:
            async for record in outbox.pending(
                collection(self.db, resource), resource, created_before
            ):
                yield record

    def pending_batches(self, created_before: datetime) -> AsyncIterator[PendingBatch]:
        return outbox_batches.pending(self.db, created_before)

    async def batch_sent(self, batch: PendingBatch) -> None:
        await outbox_batches.close_batches(self.db, [batch.id])

    async def backlog(self) -> dict[Resource, Backlog]:
        """Per resource, the documents pending on their own and the records of open batches."""
        batched = await outbox_batches.backlog(self.db)
        found = {}
        for resource in COLLECTIONS:
            count, oldest = await outbox.backlog(collection(self.db, resource))
            in_batches, oldest_batch = batched.get(resource, (0, None))
            times = [t for t in (oldest, oldest_batch) if t is not None]
            found[resource] = Backlog(count + in_batches, min(times, default=None))
        return found
