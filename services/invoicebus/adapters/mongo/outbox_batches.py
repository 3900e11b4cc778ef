"""The outbox of a batch: one marker document for the events of every record a batch stores.

Marking each document of a batch sent is an ``update_many`` over ``_id $in`` the batch's ids,
the slowest write of the batched path (and superlinear in the number of ids on the embedded
SecantusDB). So a batch of records is stored in three steps instead:

1. one marker, in a collection of its own: ``{_id, created_at, records: {collection: [ids]}}``,
   naming the ids the batch is about to store (the service gives records their ids before it
   stores them);
2. the records, with their events, not pending (``outbox.document_of``): the per-document
   scan of the relay (``outbox.pending``) does not see them;
3. once every event is confirmed, the marker is deleted: one write per batch.

The relay (``pending``) reads markers older than its grace, loads the records they name by
``_id`` and publishes their events again before it deletes the marker. An id that is not found
was never stored (its insert was refused, or never happened): its command was never acked and
comes again. A crash between 1 and 3 therefore publishes the batch's events twice, with the
same event ids, which the guarantees allow. The layout of a marker lives here and nowhere
else; ``store.py`` composes it with ``outbox.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from invoicebus_contracts import Resource

from ...commands.ports import PendingBatch
from ...domain.records import Record
from ...querying.fields import Document
from .client import COLLECTIONS, collection
from .outbox import record_of

MARKERS = "outbox_batches"
CREATED_INDEX = "outbox_batches_created"
RESOURCES: dict[str, Resource] = {name: resource for resource, name in COLLECTIONS.items()}


def markers(db: AsyncDatabase[Document]) -> AsyncCollection[Document]:
    return db[MARKERS]


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    # The relay asks for markers older than its grace: a range on created_at.
    await markers(db).create_index([("created_at", ASCENDING)], name=CREATED_INDEX)


def batch_id(records: Sequence[Record[Any]]) -> str:
    """The batch's id: its first record's, which belongs to no other batch (ids are new for
    every record). A retry of the same batch therefore finds its marker written already."""
    return records[0].id


async def open_batch(db: AsyncDatabase[Document], records: Sequence[Record[Any]]) -> str:
    """Write the marker of the records about to be stored (step 1); its id. Created when the
    oldest record was, so the relay's grace counts from the same time as for one record."""
    ids: dict[str, list[str]] = {}
    for record in records:
        ids.setdefault(COLLECTIONS[record.resource], []).append(record.id)
    marker = {
        "_id": batch_id(records),
        "created_at": min(record.model.created_at for record in records),
        "records": ids,
    }
    with contextlib.suppress(DuplicateKeyError):  # a retry of the batch: written already
        await markers(db).insert_one(marker)
    return str(marker["_id"])


async def close_batches(db: AsyncDatabase[Document], ids: Iterable[str]) -> None:
    """Every event of these batches is published (step 3): one write, usually for one id."""
    wanted = list(dict.fromkeys(ids))
    if len(wanted) == 1:
        await markers(db).delete_one({"_id": wanted[0]})
    elif wanted:
        await markers(db).delete_many({"_id": {"$in": wanted}})


def older_than(db: AsyncDatabase[Document], created_before: datetime) -> AsyncCursor[Document]:
    """The markers created before ``created_before``, oldest first (by the created_at index)."""
    return markers(db).find(
        {"created_at": {"$lt": created_before}}, sort=[("created_at", ASCENDING)]
    )


async def pending(
    db: AsyncDatabase[Document], created_before: datetime
) -> AsyncIterator[PendingBatch]:
    """The batches the relay must publish again: markers older than ``created_before`` with
    the records they name that were stored, each pending under its batch."""
    async for marker in older_than(db, created_before):
        records: list[Record[Any]] = []
        for name, ids in marker["records"].items():
            resource = RESOURCES[name]
            found = {
                doc["_id"]: doc
                async for doc in collection(db, resource).find({"_id": {"$in": ids}})
            }
            for record_id in ids:
                if record_id in found:
                    record = record_of(resource, found[record_id])
                    record.pending, record.batch = True, marker["_id"]
                    records.append(record)
        yield PendingBatch(marker["_id"], records)


async def backlog(db: AsyncDatabase[Document]) -> dict[Resource, tuple[int, datetime | None]]:
    """Per resource, how many records open markers name and the oldest marker's time. The
    markers are few (one per batch in flight), unless the broker has been away for a while."""
    found: dict[Resource, tuple[int, datetime | None]] = {}
    async for marker in markers(db).find({}, {"created_at": 1, "records": 1}):
        for name, ids in marker["records"].items():
            resource = RESOURCES[name]
            count, oldest = found.get(resource, (0, None))
            created: datetime = marker["created_at"]
            found[resource] = (
                count + len(ids),
                created if oldest is None else min(oldest, created),
            )
    return found
