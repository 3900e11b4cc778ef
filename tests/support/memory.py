"""In-memory fakes of the command service's storage ports (``commands/ports.py``), and of the
entity, grant and API-key lookups of ``tenancy`` and ``access``.

They keep the ports' promises the simple way (lists and dicts, no concurrency), so the rules
of ``commands/`` can be unit-tested without a database. The MongoDB adapter keeps the same
promises with unique indexes; the integration tests prove that.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from invoicebus.access import Acting
from invoicebus.commands.ports import Backlog, PendingBatch
from invoicebus.domain.errors import DomainError
from invoicebus.domain.records import IdempotencyKey, M, Record
from invoicebus.tenancy import Caller
from invoicebus_contracts import ErrorCode, Resource, Tax


class MemoryStore:
    def __init__(self) -> None:
        self.records: list[Record[Any]] = []
        self.keys: dict[tuple[Resource, str | None, str, str, str], tuple[str, Record[Any]]] = {}
        self.taxes = MemoryTaxes(self)
        self.batches: list[int] = []  # the size of each add_many
        #: The open batches (as the adapter's markers): id -> when, the ids of its records.
        self.open_batches: dict[str, tuple[datetime, list[str]]] = {}

    def of(self, resource: Resource) -> list[Record[Any]]:
        return [r for r in self.records if r.resource is resource]

    async def add(self, record: Record[M], key: IdempotencyKey | None) -> Record[M]:
        if key is not None:
            original: Record[M] | None = await self.find_original(
                record.resource, _owner(record), key
            )
            if original is not None:
                return original
            self.keys[(record.resource, _owner(record), key.command, key.scope, key.key)] = (
                key.fingerprint,
                record,
            )
        self.records.append(record)
        return record

    async def find_original(
        self, resource: Resource, entity_id: str | None, key: IdempotencyKey
    ) -> Record[Any] | None:
        found = self.keys.get((resource, entity_id, key.command, key.scope, key.key))
        if found is None:
            return None
        fingerprint, original = found
        if fingerprint != key.fingerprint:
            raise DomainError(ErrorCode.IDEMPOTENCY_CONFLICT, "reused", ["message_id"])
        return original

    async def add_many(
        self, entries: Sequence[tuple[Record[Any], IdempotencyKey | None]]
    ) -> list[Record[Any] | DomainError]:
        self.batches.append(len(entries))
        if len(entries) > 1:  # pending as one batch, as the adapter does
            batch = entries[0][0].id
            self.open_batches.setdefault(
                batch,
                (min(r.model.created_at for r, _ in entries), [r.id for r, _ in entries]),
            )
            for record, _ in entries:
                record.batch = batch
        results: list[Record[Any] | DomainError] = []
        for record, key in entries:
            if record in self.records:  # stored by an earlier try of the same batch
                results.append(record)
                continue
            try:
                results.append(await self.add(record, key))
            except DomainError as refusal:
                results.append(refusal)
        return results

    async def mark_sent(self, record: Record[Any]) -> None:
        record.pending = False

    async def mark_sent_many(self, records: Sequence[Record[Any]]) -> None:
        for record in records:
            record.pending = False
            if record.batch is not None:
                self.open_batches.pop(record.batch, None)

    async def pending(self, created_before: datetime) -> AsyncIterator[Record[Any]]:
        for record in list(self.records):
            if record.pending and record.batch is None and record.model.created_at < created_before:
                yield record

    async def pending_batches(self, created_before: datetime) -> AsyncIterator[PendingBatch]:
        stored = {r.id: r for r in self.records}
        for batch, (created_at, ids) in sorted(self.open_batches.items(), key=lambda b: b[1][0]):
            if created_at < created_before:
                yield PendingBatch(batch, [stored[i] for i in ids if i in stored])

    async def batch_sent(self, batch: PendingBatch) -> None:
        self.open_batches.pop(batch.id, None)

    async def backlog(self) -> dict[Resource, Backlog]:
        in_batches = {i for _, ids in self.open_batches.values() for i in ids}
        found = {}
        for resource in Resource:
            times = [
                r.model.created_at
                for r in self.of(resource)
                if (r.pending and r.batch is None) or r.id in in_batches
            ]
            found[resource] = Backlog(len(times), min(times, default=None))
        return found


class MemoryTaxes:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.auto: dict[tuple[str, Decimal], Record[Tax]] = {}

    def _of(self, entity_id: str) -> list[Record[Tax]]:
        return [t for t in self.store.of(Resource.TAX) if t.model.entity_id == entity_id]

    async def by_ids(self, entity_id: str, ids: Iterable[str]) -> dict[str, Record[Tax]]:
        wanted = set(ids)
        return {t.id: t for t in self._of(entity_id) if t.id in wanted}

    async def by_classifications(
        self, entity_id: str, classifications: Iterable[str]
    ) -> dict[str, Record[Tax]]:
        wanted = set(classifications)
        return {
            t.model.classification: t
            for t in self._of(entity_id)
            if t.model.classification in wanted and t.model.classification is not None
        }

    async def by_rates(
        self, entity_id: str, rates: Iterable[Decimal]
    ) -> dict[Decimal, Record[Tax]]:
        wanted = set(rates)
        found: dict[Decimal, Record[Tax]] = {}
        for tax in sorted(self._of(entity_id), key=lambda t: t.id):
            if tax.model.rate in wanted:
                found.setdefault(tax.model.rate, tax)
        return found

    async def pending_among(self, ids: Iterable[str]) -> list[Record[Tax]]:
        taxes = {t.id: t for t in self.store.of(Resource.TAX)}
        return [taxes[i] for i in ids if i in taxes and taxes[i].pending]

    async def add(self, tax: Record[Tax], key: IdempotencyKey | None) -> Record[Tax]:
        classification = tax.model.classification
        if classification is not None and await self.by_classifications(
            tax.model.entity_id, [classification]
        ):
            if key and (original := await self.store.find_original(Resource.TAX, _owner(tax), key)):
                return original
            raise DomainError(ErrorCode.RESOURCE_ALREADY_EXISTS, "taken", ["classification"])
        return await self.store.add(tax, key)

    async def add_auto(self, tax: Record[Tax], rate: Decimal) -> Record[Tax]:
        slot = (tax.model.entity_id, rate)
        if slot not in self.auto:
            self.auto[slot] = await self.store.add(tax, None)
        return self.auto[slot]


def _owner(record: Record[Any]) -> str | None:
    """The scope of an idempotency key: the entity, or none for an entity itself."""
    return record.entity_id if record.resource.tenant_scoped else None


def acting(entity_id: str | None, principal: str | None = None) -> Acting:
    """A sender acting on ``entity_id``, as ``access`` would resolve it."""
    return Acting(Caller(principal, unrestricted=principal is None), entity_id)


class MemoryEntities:
    """Entities and their grants (``tenancy.EntityLookups``), oldest first."""

    def __init__(self, *ids: str) -> None:
        self.ids = list(ids)
        self.grants: dict[str, set[str]] = {}
        self.lookups: list[str] = []

    def add(self, entity_id: str, *principals: str) -> None:
        self.ids.append(entity_id)
        self.grants[entity_id] = set(principals)

    async def first_entity_id(self) -> str | None:
        self.lookups.append("first")
        return self.ids[0] if self.ids else None

    async def entity_exists(self, entity_id: str) -> bool:
        self.lookups.append(entity_id)
        return entity_id in self.ids

    async def first_granted(self, principal: str) -> str | None:
        self.lookups.append(f"first of {principal}")
        return next((e for e in self.ids if principal in self.grants.get(e, ())), None)

    async def granted(self, principal: str, entity_id: str) -> bool:
        self.lookups.append(f"{principal} on {entity_id}")
        return principal in self.grants.get(entity_id, ())


class MemoryKeys:
    """API keys by their SHA-256 (``access.ApiKeys``)."""

    def __init__(self, **principals: str) -> None:
        self.principals = principals
        self.lookups = 0

    async def principal_of(self, key_sha256: str) -> str | None:
        self.lookups += 1
        return self.principals.get(key_sha256)
