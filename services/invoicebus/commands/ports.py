"""What the command service needs from storage, as protocols it owns.

The MongoDB adapter implements them (``adapters/mongo/store.py``, ``taxes.py``); the unit
tests fake them in memory. Records go in and come out (``domain.records``): how they are
stored, and how a repeated command is recognised, is the adapter's business.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from invoicebus_contracts import Resource, Tax

from ..domain.errors import DomainError
from ..domain.records import IdempotencyKey, M, Record


class TaxStore(Protocol):
    async def by_ids(self, entity_id: str, ids: Iterable[str]) -> dict[str, Record[Tax]]:
        """The entity's taxes among ``ids``; another entity's tax is not found."""
        ...

    async def by_classifications(
        self, entity_id: str, classifications: Iterable[str]
    ) -> dict[str, Record[Tax]]:
        """The entity's taxes with these classifications, by classification."""
        ...

    async def by_rates(
        self, entity_id: str, rates: Iterable[Decimal]
    ) -> dict[Decimal, Record[Tax]]:
        """For each rate the entity has a tax with, its oldest such tax."""
        ...

    async def pending_among(self, ids: Iterable[str]) -> list[Record[Tax]]:
        """Those of the taxes ``ids`` whose event is still unsent, in the order of ``ids``."""
        ...

    async def add(self, tax: Record[Tax], key: IdempotencyKey | None) -> Record[Tax]:
        """Store a tax of ``tax.create``; for a repeated key, the original. A classification
        the entity already has is ``resource_already_exists``."""
        ...

    async def add_auto(self, tax: Record[Tax], rate: Decimal) -> Record[Tax]:
        """Store the entity's tax for ``rate`` that an item asked for, unless a concurrent
        command just stored one: then that one. Never two per entity and rate."""
        ...


@dataclass(frozen=True)
class Backlog:
    """The unsent events of one resource: how many, and when the oldest was created."""

    count: int
    oldest: datetime | None


@dataclass(frozen=True)
class PendingBatch:
    """A batch of records whose events were stored as pending together (one marker): ``id``
    is the store's token for it, ``records`` those of its records that were stored (a record
    refused at its insert never was: its command was never acked, and comes again)."""

    id: str
    records: list[Record[Any]]


class Store(Protocol):
    @property
    def taxes(self) -> TaxStore: ...

    async def add(self, record: Record[M], key: IdempotencyKey | None) -> Record[M]:
        """Store a new record with its pending event; for a repeated key, the original.
        The same key with another fingerprint is ``idempotency_conflict``."""
        ...

    async def add_many(
        self, entries: Sequence[tuple[Record[Any], IdempotencyKey | None]]
    ) -> list[Record[Any] | DomainError]:
        """``add`` for many records at once, in order: for each, the stored record (new or, for
        a repeated key, the original) or its ``idempotency_conflict``. One record's refusal
        never fails the others. Safe to repeat with the same records: one already stored by an
        earlier try is found stored, not stored twice. The new records' events may be pending
        together, as one batch (``Record.batch``): ``mark_sent_many`` of them ends it, and
        until then ``pending_batches`` shows it."""
        ...

    async def find_original(
        self, resource: Resource, entity_id: str | None, key: IdempotencyKey
    ) -> Record[Any] | None:
        """The record an earlier delivery of the same command stored, if any (a different
        fingerprint is ``idempotency_conflict``)."""
        ...

    async def mark_sent(self, record: Record[Any]) -> None:
        """The record's event is published: it is no longer pending."""
        ...

    async def mark_sent_many(self, records: Sequence[Record[Any]]) -> None:
        """``mark_sent`` for many records at once (for a batch's records, one write: the end of
        the batch's pending state)."""
        ...

    def pending(self, created_before: datetime) -> AsyncIterator[Record[Any]]:
        """Records whose event is still unsent and older than ``created_before``, each pending
        on its own (records pending as a batch are ``pending_batches``')."""
        ...

    def pending_batches(self, created_before: datetime) -> AsyncIterator[PendingBatch]:
        """Batches whose events may be unsent, created before ``created_before``, oldest first."""
        ...

    async def batch_sent(self, batch: PendingBatch) -> None:
        """Every event of ``batch`` is published: it is no longer pending."""
        ...

    async def backlog(self) -> dict[Resource, Backlog]:
        """Every resource's unsent events, young or old, pending on their own or in a batch
        (what the relay's gauges show)."""
        ...
