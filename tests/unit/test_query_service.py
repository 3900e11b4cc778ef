"""The list request flow with the database faked: what is fetched, counted and scoped."""

from __future__ import annotations

import json
from typing import Any

from invoicebus.access import Access, Policy
from invoicebus.adapters.mongo.documents import to_document
from invoicebus.messaging import Envelope
from invoicebus.queries.service import QueryService
from invoicebus.querying.seal import Seal
from invoicebus.settings import AuthMode
from invoicebus.tenancy import Tenancy
from invoicebus_contracts import Resource
from tests.support.listing import customer
from tests.support.memory import MemoryKeys

ENTITY = "ent_" + "e" * 24


class FakeEntities:
    async def first_entity_id(self) -> str:
        return ENTITY

    async def entity_exists(self, entity_id: str) -> bool:
        return True


class FakeReader:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs
        self.finds: list[tuple[dict[str, Any], list[tuple[str, int]], int]] = []
        self.counts: list[dict[str, Any]] = []

    async def find(
        self, resource: Resource, filter: dict[str, Any], sort: list[tuple[str, int]], limit: int
    ) -> list[dict[str, Any]]:
        self.finds.append((filter, sort, limit))
        return self.docs[:limit]

    async def count(self, resource: Resource, filter: dict[str, Any]) -> int:
        self.counts.append(filter)
        return 42


def documents(n: int) -> list[dict[str, Any]]:
    return [to_document(Resource.CUSTOMER, customer(ENTITY, f"c{i}")) for i in range(n)]


async def ask(reader: FakeReader, resource: Resource, **request: Any) -> tuple[int, Any]:
    access = Access(Policy(AuthMode.OFF), Tenancy(FakeEntities()), MemoryKeys())  # type: ignore[arg-type]
    envelope = Envelope(resource.list_key, json.dumps(request).encode())
    service = QueryService(reader, access, seal=Seal(b"key"))  # type: ignore[arg-type]
    status, body = await service.answer(resource, envelope)
    return status, json.loads(body)


async def test_fetches_one_more_than_the_page_scoped_to_the_entity() -> None:
    reader = FakeReader(documents(4))
    status, body = await ask(reader, Resource.CUSTOMER, limit=3, query={"city": "Bled"})
    assert status == 200
    ((filter, sort, limit),) = reader.finds
    assert filter == {"entity_id": ENTITY, "city": {"$eq": "Bled"}}
    assert (sort, limit) == ([("_id", 1)], 4)
    assert len(body["data"]) == 3
    assert body["pagination"]["total"] == 42 and body["pagination"]["has_more"]
    assert reader.counts == [filter]


async def test_the_total_ignores_the_cursor_and_is_not_counted_when_not_wanted() -> None:
    reader = FakeReader(documents(4))
    _, first = await ask(reader, Resource.CUSTOMER, limit=3, search="c")
    _, second = await ask(
        reader,
        Resource.CUSTOMER,
        limit=3,
        search="c",
        next_cursor=first["pagination"]["next_cursor"],
    )
    assert second["pagination"]["total"] == 42
    assert reader.counts[1] == reader.counts[0]  # the same filter: no keyset condition
    assert "$or" not in reader.counts[1] and "_id" not in reader.counts[1]
    assert reader.finds[1][0]["_id"] == {"$gt": reader.docs[2]["_id"]}

    quiet = FakeReader(documents(2))
    _, body = await ask(quiet, Resource.CUSTOMER, include_total_count=False)
    assert body["pagination"]["total"] == -1
    assert quiet.counts == []


async def test_entities_are_listed_unscoped() -> None:
    reader = FakeReader([])
    status, body = await ask(reader, Resource.ENTITY, query={"name": "x"})
    assert status == 200 and body["data"] == []
    assert reader.finds[0][0] == {"name": {"$eq": "x"}}
