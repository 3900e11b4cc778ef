"""Tax storage: lookups by id, classification and rate, and the two unique rules of taxes.

- A classification names at most one tax per entity: a unique partial index on
  ``(entity_id, classification)`` over string classifications decides, not a prior read.
- An item's ``{"rate": 22}`` creates at most one tax per entity and rate, however many items
  ask at once: the auto-created tax carries ``_auto_rate`` under a unique partial index, and
  whoever loses the race reads the winner's tax and uses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from bson import Decimal128
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from invoicebus_contracts import ErrorCode, Resource

from ...domain.errors import DomainError
from .client import Document, collection

if TYPE_CHECKING:
    from .store import Store

CLASSIFICATION_INDEX = "tax_classification"
AUTO_RATE_INDEX = "tax_auto_rate"
AUTO_RATE = "_auto_rate"


async def ensure_indexes(taxes: AsyncCollection[Document]) -> None:
    await taxes.create_index(
        [("entity_id", ASCENDING), ("classification", ASCENDING)],
        name=CLASSIFICATION_INDEX,
        unique=True,
        partialFilterExpression={"classification": {"$type": "string"}},
    )
    await taxes.create_index(
        [("entity_id", ASCENDING), (AUTO_RATE, ASCENDING)],
        name=AUTO_RATE_INDEX,
        unique=True,
        partialFilterExpression={AUTO_RATE: {"$exists": True}},
    )
    # Rate lookups of items, oldest tax first. Named as the query service's list index on the
    # same keys (reader.index_name), so whichever service starts first creates it.
    await taxes.create_index(
        [("entity_id", ASCENDING), ("rate", ASCENDING), ("_id", ASCENDING)], name="list_rate"
    )


def rate_of(doc: Document) -> Decimal:
    rate: Decimal128 = doc["rate"]
    return rate.to_decimal()


async def by_ids(store: Store, entity_id: str, ids: Iterable[str]) -> dict[str, Document]:
    """The entity's taxes among ``ids``; another entity's tax is simply not found."""
    cursor = collection(store.db, Resource.TAX).find(
        {"entity_id": entity_id, "_id": {"$in": list(ids)}}
    )
    return {doc["_id"]: doc async for doc in cursor}


async def by_classifications(
    store: Store, entity_id: str, classifications: Iterable[str]
) -> dict[str, Document]:
    cursor = collection(store.db, Resource.TAX).find(
        {"entity_id": entity_id, "classification": {"$in": list(classifications)}}
    )
    return {doc["classification"]: doc async for doc in cursor}


async def by_rates(
    store: Store, entity_id: str, rates: Iterable[Decimal]
) -> dict[Decimal, Document]:
    """For each rate the entity has a tax with, its oldest such tax (the one items reuse)."""
    cursor = collection(store.db, Resource.TAX).find(
        {"entity_id": entity_id, "rate": {"$in": [Decimal128(r) for r in rates]}},
        sort=[("_id", ASCENDING)],
    )
    found: dict[Decimal, Document] = {}
    async for doc in cursor:
        found.setdefault(rate_of(doc), doc)  # Decimal keys: 22 and 22.0 are the same key
    return found


async def pending_among(store: Store, ids: Iterable[str]) -> list[Document]:
    """Those of the taxes ``ids`` whose ``tax.created`` event is not yet published, in order."""
    order = list(ids)
    cursor = collection(store.db, Resource.TAX).find({"_id": {"$in": order}, "_pending": True})
    found = {doc["_id"]: doc async for doc in cursor}
    return [found[i] for i in order if i in found]


async def insert(store: Store, doc: Document) -> Document:
    """Store a ``tax.create`` tax; a classification the entity already uses is refused (409)."""
    try:
        return await store.insert(Resource.TAX, doc)
    except DuplicateKeyError as exc:
        if not _violates(exc, "classification"):
            raise
        # A redelivered tax.create clashes with its own first delivery: answer with that.
        if "_idem" in doc and (
            original := await store.replay(Resource.TAX, doc["entity_id"], **doc["_idem"])
        ):
            return original
        raise DomainError(
            ErrorCode.RESOURCE_ALREADY_EXISTS,
            f"a tax with classification {doc['classification']!r} already exists for this"
            " entity; classifications are unique per entity",
            ["classification"],
        ) from None


async def insert_auto(store: Store, doc: Document, rate: Decimal) -> tuple[Document, bool]:
    """Store the entity's auto-created tax for ``rate``, unless another command just did.

    Returns the tax and whether this call created it.
    """
    doc[AUTO_RATE] = Decimal128(rate)
    taxes = collection(store.db, Resource.TAX)
    try:
        await taxes.insert_one(doc)
    except DuplicateKeyError as exc:
        if not _violates(exc, AUTO_RATE):
            raise
        winner = await taxes.find_one({"entity_id": doc["entity_id"], AUTO_RATE: doc[AUTO_RATE]})
        if winner is None:  # pragma: no cover - the index said it exists; taxes are never deleted
            raise
        return winner, False
    return doc, True


def _violates(exc: DuplicateKeyError, field: str) -> bool:
    """Whether the unique index that refused the write covers ``field``."""
    return field in (exc.details or {}).get("keyPattern", {})
