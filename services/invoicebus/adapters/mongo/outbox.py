"""The outbox and idempotency fields of stored documents: written, indexed, queried and
projected away here, and nowhere else.

A created document carries its own ``created`` event (``_event``) and a ``_pending`` flag, so
storing the resource and queueing its event is one single-document write: atomic on any
MongoDB, with no multi-document transaction. (A batch's documents carry their events too, but
are pending under one marker written before them: ``outbox_batches.py``.) The command's
idempotency key (``_idem``) sits in the same document under a unique index, so a duplicate
command is stopped by the index, not by a read-then-write check. Above this module these are
``domain.records`` values.

The whole key (entity, command, scoped ``message_id``) is one string, ``_idem.id``, under a
single-field unique *sparse* index: every lookup by key is an equality on one indexed field,
which every supported server answers from the index (the embedded SecantusDB ignores partial
indexes, so the earlier compound partial index made each lookup a collection scan).
``_idem.command`` and ``_idem.key`` stay in the document for people and tools that read it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.errors import BulkWriteError, DuplicateKeyError

from invoicebus_contracts import ErrorCode, Resource

from ...domain.errors import DomainError
from ...domain.ids import first_id_at
from ...domain.records import Event, IdempotencyKey, M, Record
from ...querying.fields import Document
from .client import refused_by_index_on
from .documents import to_document, to_resource
from .grants import stamp

EVENT = "_event"
PENDING = "_pending"
IDEM = "_idem"
IDEMPOTENCY_INDEX = "idempotency_id"
#: The compound partial index of earlier versions: dropped at start, after the backfill.
OLD_IDEMPOTENCY_INDEX = "idempotency_key"
#: The one field a key is looked up by.
IDEM_ID = f"{IDEM}.id"
PENDING_INDEX = "outbox_pending"
#: The server's error code for a write a unique index refused.
DUPLICATE_KEY = 11000
#: What a read that only wants the resource leaves out.
HIDDEN: dict[str, int] = {EVENT: 0, PENDING: 0, IDEM: 0}


async def ensure_indexes(coll: AsyncCollection[Document]) -> None:
    old_index = OLD_IDEMPOTENCY_INDEX in await coll.index_information()
    if old_index:
        # Documents written before ``_idem.id`` existed get it once, before the index that
        # replaces the old one is built (unique: the old index kept their keys unique). A
        # crash half-way leaves the old index in place, so the next start backfills again.
        await backfill_idempotency_ids(coll)
    await coll.create_index(
        [(IDEM_ID, ASCENDING)], name=IDEMPOTENCY_INDEX, unique=True, sparse=True
    )
    if old_index:
        await coll.drop_index(OLD_IDEMPOTENCY_INDEX)
    await coll.create_index(
        [(PENDING, ASCENDING), ("created_at", ASCENDING)],
        name=PENDING_INDEX,
        partialFilterExpression={PENDING: True},
    )


def document_of(record: Record[Any], key: IdempotencyKey | None) -> Document:
    """The document of a new record: the resource, its pending event, the command's key."""
    doc = stamp(to_document(record.resource, record.model), record.grants)
    event = record.event
    doc[EVENT] = {"id": event.id, "type": event.type, "correlation_id": event.correlation_id}
    # A record stored in a batch is pending under the batch's marker (``outbox_batches``),
    # not on its own: the relay's per-document scan must not publish it a second way.
    doc[PENDING] = record.pending and record.batch is None
    if key is not None:
        doc[IDEM] = {
            "id": idempotency_id(doc.get("entity_id"), key),
            "command": key.command,
            "key": stored_key(key),
            "fingerprint": key.fingerprint,
        }
    return doc


def idempotency_id(entity_id: str | None, key: IdempotencyKey) -> str:
    """The whole key as one indexed string: entity, command and scoped ``message_id``.

    Each part but the last is preceded by its length, so no two keys give the same text
    whatever characters their parts hold (``|`` and ``:`` included)."""
    return _joined(entity_id or "", key.command, stored_key(key))


def by_key(entity_id: str | None, key: IdempotencyKey) -> Document:
    """The filter that finds the document stored with ``key``: one indexed equality."""
    return {IDEM_ID: idempotency_id(entity_id, key)}


def _joined(entity: str, command: str, scoped_key: str) -> str:
    return f"{len(entity)}:{entity}|{len(command)}:{command}|{scoped_key}"


async def backfill_idempotency_ids(coll: AsyncCollection[Document]) -> int:
    """Give ``_idem.id`` to documents stored with a key before it existed; how many."""
    missing = {f"{IDEM}.key": {"$exists": True}, IDEM_ID: {"$exists": False}}
    updates = [
        UpdateOne(
            {"_id": doc["_id"]},
            {
                "$set": {
                    IDEM_ID: _joined(
                        doc.get("entity_id") or "", doc[IDEM]["command"], doc[IDEM]["key"]
                    )
                }
            },
        )
        async for doc in coll.find(missing, {"entity_id": 1, IDEM: 1})
    ]
    if updates:
        await coll.bulk_write(updates, ordered=False)
    return len(updates)


def stored_key(key: IdempotencyKey) -> str:
    """The key as indexed: the ``message_id``, preceded by its scope when it has one (the
    scope's length first, so no two (scope, message_id) pairs give the same text)."""
    return f"{len(key.scope)}:{key.scope}:{key.key}" if key.scope else key.key


def record_of(resource: Resource, doc: Document) -> Record[Any]:
    event = doc[EVENT]
    return Record(
        resource,
        to_resource(resource, doc),
        Event(event["id"], event["type"], event.get("correlation_id")),
        pending=bool(doc.get(PENDING)),
    )


async def insert(
    coll: AsyncCollection[Document], record: Record[M], key: IdempotencyKey | None
) -> Record[M]:
    """Store a new record; for a repeated idempotency key, return the original instead.

    The same key with a different command fingerprint is an ``idempotency_conflict``.
    """
    doc = document_of(record, key)
    try:
        await coll.insert_one(doc)
    except DuplicateKeyError as exc:
        if key is None or not refused_by_index_on(exc, IDEM_ID):
            raise
        original = await find_original(coll, record.resource, doc.get("entity_id"), key)
        if original is None:  # pragma: no cover - the index said it exists
            raise
        return original
    return record


async def insert_many(
    coll: AsyncCollection[Document],
    resource: Resource,
    entries: Sequence[tuple[Record[Any], IdempotencyKey | None]],
) -> list[Record[Any] | DomainError]:
    """Store new records with one ``insert_many(ordered=False)``: for each, in order, the
    record, the original of a repeated key, or the ``idempotency_conflict`` of a reused one.

    The unique key index refuses repeats document by document (the others are stored); their
    originals are then found with one ``$in`` on the key field. A document refused on its
    ``_id`` was stored by an earlier try of the same batch (ids are new for every record), so
    repeating the call after a transient failure stores nothing twice. Any other write error
    is raised: the caller falls back to storing the records one by one.
    """
    docs = [document_of(record, key) for record, key in entries]
    results: list[Record[Any] | DomainError] = [record for record, _ in entries]
    try:
        await coll.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        repeated: dict[str, list[int]] = {}
        for error in exc.details.get("writeErrors", []):
            index, pattern = error["index"], error.get("keyPattern") or {}
            if error.get("code") != DUPLICATE_KEY:
                raise
            if IDEM_ID in pattern or f"index: {IDEMPOTENCY_INDEX} " in error.get("errmsg", ""):
                repeated.setdefault(docs[index][IDEM]["id"], []).append(index)
            elif "_id" not in pattern:  # another unique rule (none on these collections yet)
                raise
        if repeated:
            originals = {
                doc[IDEM]["id"]: doc async for doc in coll.find({IDEM_ID: {"$in": list(repeated)}})
            }
            for idem_id, indexes in repeated.items():
                for index in indexes:
                    key = entries[index][1]
                    assert key is not None  # only keyed documents carry _idem.id
                    results[index] = _original_or_conflict(resource, originals[idem_id], key)
    return results


def _original_or_conflict(
    resource: Resource, original: Document, key: IdempotencyKey
) -> Record[Any] | DomainError:
    if original[IDEM]["fingerprint"] != key.fingerprint:
        return _conflict(key)
    return record_of(resource, original)


def _conflict(key: IdempotencyKey) -> DomainError:
    return DomainError(
        ErrorCode.IDEMPOTENCY_CONFLICT,
        f"message_id {key.key!r} was already used for a different {key.command} command;"
        " use a new message_id for a new command",
        ["message_id"],
    )


async def find_original(
    coll: AsyncCollection[Document],
    resource: Resource,
    entity_id: str | None,
    key: IdempotencyKey,
) -> Record[Any] | None:
    """The record an earlier delivery of the same command stored, if any.

    The same key with a different command fingerprint is an ``idempotency_conflict``.
    """
    original = await coll.find_one(by_key(entity_id, key))
    if original is None:
        return None
    if original[IDEM]["fingerprint"] != key.fingerprint:
        raise _conflict(key)
    return record_of(resource, original)


async def mark_sent(coll: AsyncCollection[Document], record_id: str) -> None:
    await coll.update_one({"_id": record_id}, {"$set": {PENDING: False}})


async def mark_sent_many(coll: AsyncCollection[Document], record_ids: list[str]) -> None:
    await coll.update_many({"_id": {"$in": record_ids}}, {"$set": {PENDING: False}})


async def pending(
    coll: AsyncCollection[Document], resource: Resource, created_before: datetime
) -> AsyncIterator[Record[Any]]:
    """Records whose event is still unsent, oldest first."""
    cursor = coll.find(
        {PENDING: True, "created_at": {"$lt": created_before}}, sort=[("created_at", ASCENDING)]
    )
    async for doc in cursor:
        yield record_of(resource, doc)


async def backlog(coll: AsyncCollection[Document]) -> tuple[int, datetime | None]:
    """How many of the collection's events are unsent, and the creation time of the oldest:
    one pass over the pending index, whatever the collection's size."""
    summary = [
        row
        async for row in await coll.aggregate(
            [
                {"$match": {PENDING: True}},
                {"$group": {"_id": None, "count": {"$sum": 1}, "oldest": {"$min": "$created_at"}}},
            ]
        )
    ]
    if not summary:
        return 0, None
    return int(summary[0]["count"]), summary[0]["oldest"]


async def pending_among(
    coll: AsyncCollection[Document], resource: Resource, ids: list[str]
) -> list[Record[Any]]:
    """Those of the records ``ids`` whose event is still unsent, in the order of ``ids``."""
    cursor = coll.find({"_id": {"$in": ids}, PENDING: True})
    found = {doc["_id"]: doc async for doc in cursor}
    return [record_of(resource, found[i]) for i in ids if i in found]


def created_since(
    coll: AsyncCollection[Document],
    resource: Resource,
    since: datetime,
    *,
    entity_id: str | None,
    after: str | None,
    batch_size: int,
) -> AsyncGenerator[Record[Any], None]:
    """Records created at or after ``since`` (of ``entity_id``), after the id ``after``, in id
    order, with their events (sent or not), fetched ``batch_size`` at a time.

    The id range comes first in the filter: ids begin with their second of creation, so the
    ``_id`` index (``entity_id, _id`` for an entity's resources) finds where ``since`` starts.
    """
    ids: dict[str, str] = {"$gte": first_id_at(resource, since)}
    if after is not None:
        ids["$gt"] = after
    query: dict[str, Any] = {"_id": ids, "created_at": {"$gte": since}}
    if entity_id is not None:
        if resource.tenant_scoped:
            query["entity_id"] = entity_id
        else:
            ids["$eq"] = entity_id  # an entity's own event
    return _records(coll.find(query, sort=[("_id", ASCENDING)], batch_size=batch_size), resource)


async def _records(
    cursor: AsyncCursor[Document], resource: Resource
) -> AsyncGenerator[Record[Any], None]:
    try:
        async for doc in cursor:
            yield record_of(resource, doc)
    finally:
        await cursor.close()
