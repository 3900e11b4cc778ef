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
from typing import Any

from bson import Decimal128
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from invoicebus_contracts import ErrorCode, Resource, Tax

from ...domain.errors import DomainError
from ...domain.records import IdempotencyKey, Record
from ...querying.fields import Document
from . import outbox
from .client import collection, refused_by_index_on

CLASSIFICATION_INDEX = "tax_classification"
AUTO_RATE_INDEX = "tax_auto_rate"
AUTO_RATE = "_auto_rate"

TaxRecord = Record[Tax]


class MongoTaxes:
    """The ``commands.ports.TaxStore`` of the command service."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.taxes: AsyncCollection[Document] = collection(db, Resource.TAX)

    async def ensure_indexes(self) -> None:
        await self.taxes.create_index(
            [("entity_id", ASCENDING), ("classification", ASCENDING)],
            name=CLASSIFICATION_INDEX,
            unique=True,
            partialFilterExpression={"classification": {"$type": "string"}},
        )
        await self.taxes.create_index(
            [("entity_id", ASCENDING), (AUTO_RATE, ASCENDING)],
            name=AUTO_RATE_INDEX,
            unique=True,
            partialFilterExpression={AUTO_RATE: {"$exists": True}},
        )
        # Rate lookups of items, oldest tax first. Named as the query service's list index on
        # the same keys (reader.index_name), so whichever service starts first creates it.
        await self.taxes.create_index(
            [("entity_id", ASCENDING), ("rate", ASCENDING), ("_id", ASCENDING)], name="list_rate"
        )

    async def by_ids(self, entity_id: str, ids: Iterable[str]) -> dict[str, TaxRecord]:
        """The entity's taxes among ``ids``; another entity's tax is simply not found."""
        found = await self._find({"entity_id": entity_id, "_id": {"$in": list(ids)}})
        return {tax.id: tax for tax in found}

    async def by_classifications(
        self, entity_id: str, classifications: Iterable[str]
    ) -> dict[str, TaxRecord]:
        query = {"entity_id": entity_id, "classification": {"$in": list(classifications)}}
        return {tax.model.classification or "": tax for tax in await self._find(query)}

    async def by_rates(self, entity_id: str, rates: Iterable[Decimal]) -> dict[Decimal, TaxRecord]:
        """For each rate the entity has a tax with, its oldest such tax (the one items reuse)."""
        query = {"entity_id": entity_id, "rate": {"$in": [Decimal128(r) for r in rates]}}
        found: dict[Decimal, TaxRecord] = {}
        for tax in await self._find(query, sort=[("_id", ASCENDING)]):
            found.setdefault(tax.model.rate, tax)  # Decimal keys: 22 and 22.0 are the same key
        return found

    async def pending_among(self, ids: Iterable[str]) -> list[TaxRecord]:
        """Those of the taxes ``ids`` whose ``tax.created`` is not yet published, in order."""
        return await outbox.pending_among(self.taxes, Resource.TAX, list(ids))

    async def add(self, tax: TaxRecord, key: IdempotencyKey | None) -> TaxRecord:
        """Store a ``tax.create`` tax; a classification the entity already uses is refused."""
        try:
            return await outbox.insert(self.taxes, tax, key)
        except DuplicateKeyError as exc:
            if not refused_by_index_on(exc, "classification"):
                raise
            # A redelivered tax.create clashes with its own first delivery: answer with that.
            entity_id = tax.model.entity_id
            if key and (
                original := await outbox.find_original(self.taxes, Resource.TAX, entity_id, key)
            ):
                return original
            raise DomainError(
                ErrorCode.RESOURCE_ALREADY_EXISTS,
                f"a tax with classification {tax.model.classification!r} already exists for"
                " this entity; classifications are unique per entity",
                ["classification"],
            ) from None

    async def add_auto(self, tax: TaxRecord, rate: Decimal) -> TaxRecord:
        """Store the entity's auto-created tax for ``rate``, unless another command just did:
        then the tax that command stored."""
        doc = outbox.document_of(tax, None)
        doc[AUTO_RATE] = Decimal128(rate)
        try:
            await self.taxes.insert_one(doc)
        except DuplicateKeyError as exc:
            if not refused_by_index_on(exc, AUTO_RATE):
                raise
            winner = await self.taxes.find_one(
                {"entity_id": doc["entity_id"], AUTO_RATE: doc[AUTO_RATE]}
            )
            if winner is None:  # pragma: no cover - the index said it exists; never deleted
                raise
            return outbox.record_of(Resource.TAX, winner)
        return tax

    async def _original(self, entity_id: str, key: IdempotencyKey) -> TaxRecord | None:
        return await outbox.find_original(self.taxes, Resource.TAX, entity_id, key)

    async def _find(self, query: dict[str, Any], **options: Any) -> list[TaxRecord]:
        cursor = self.taxes.find(query, **options)
        return [outbox.record_of(Resource.TAX, doc) async for doc in cursor]
