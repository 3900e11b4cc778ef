"""The list request flow with the database faked: what is fetched, counted and scoped."""

from __future__ import annotations

import json
from typing import Any

from invoicebus.access import Access, Policy
from invoicebus.adapters.mongo.documents import to_document
from invoicebus.messaging import Envelope
from invoicebus.queries.ports import QueryTimeout
from invoicebus.queries.service import QueryService
from invoicebus.queries.slots import Slots
from invoicebus.querying.seal import Seal
from invoicebus.settings import AuthMode
from invoicebus.tenancy import Tenancy
from invoicebus_contracts import Resource
from tests.support.listing import customer
from tests.support.memory import MemoryKeys

ENTITY = "ent_" + "e" * 24
LIMIT_MS = 2000


class FakeEntities:
    async def first_entity_id(self) -> str:
        return ENTITY

    async def entity_exists(self, entity_id: str) -> bool:
        return True


class FakeReader:
    def __init__(self, docs: list[dict[str, Any]], *, too_slow: bool = False) -> None:
        self.docs = docs
        self.too_slow = too_slow
        self.finds: list[tuple[dict[str, Any], list[tuple[str, int]], int]] = []
        self.counts: list[dict[str, Any]] = []
        self.time_limits: list[int] = []

    async def find(
        self,
        resource: Resource,
        filter: dict[str, Any],
        sort: list[tuple[str, int]],
        limit: int,
        *,
        time_limit_ms: int,
    ) -> list[dict[str, Any]]:
        self.finds.append((filter, sort, limit))
        self.time_limits.append(time_limit_ms)
        if self.too_slow:
            raise QueryTimeout("database")
        return self.docs[:limit]

    async def count(self, resource: Resource, filter: dict[str, Any], *, time_limit_ms: int) -> int:
        self.counts.append(filter)
        self.time_limits.append(time_limit_ms)
        return 42


def documents(n: int) -> list[dict[str, Any]]:
    return [to_document(Resource.CUSTOMER, customer(ENTITY, f"c{i}")) for i in range(n)]


def service(reader: FakeReader, slots: Slots | None = None) -> QueryService:
    access = Access(Policy(AuthMode.OFF), Tenancy(FakeEntities()), MemoryKeys())  # type: ignore[arg-type]
    return QueryService(
        reader,  # type: ignore[arg-type]
        access,
        seal=Seal(b"key"),
        slots=slots or Slots(8, 2, wait_seconds=10),
        time_limit_ms=LIMIT_MS,
    )


def envelope(resource: Resource, request: Any) -> Envelope:
    raw = request if isinstance(request, bytes) else json.dumps(request).encode()
    return Envelope(resource.list_key, raw)


async def ask(reader: FakeReader, resource: Resource, **request: Any) -> tuple[int, Any]:
    reply = await service(reader).answer(resource, envelope(resource, request))
    assert reply.result == (
        "ok" if reply.status == 200 else json.loads(reply.body)["error"]["code"]
    )
    return reply.status, json.loads(reply.body)


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


async def test_every_read_runs_under_what_is_left_of_the_time_limit() -> None:
    reader = FakeReader(documents(2))
    await ask(reader, Resource.CUSTOMER, search="c")
    assert len(reader.time_limits) == 2  # the find and the count
    assert all(0 < ms <= LIMIT_MS for ms in reader.time_limits)


async def test_a_read_over_the_time_limit_is_a_query_timeout_with_advice() -> None:
    reply = await service(FakeReader([], too_slow=True)).answer(
        Resource.CUSTOMER, envelope(Resource.CUSTOMER, {"search": "a"})
    )
    assert (reply.status, reply.result, reply.timeout_stage) == (503, "query_timeout", "database")
    error = json.loads(reply.body)["error"]
    assert error["type"] == "api_error"
    assert f"time limit of {LIMIT_MS} ms" in error["message"]
    assert "include_total_count" in error["message"]


async def test_no_slot_within_the_time_limit_is_a_query_timeout_without_a_read() -> None:
    slots = Slots(1, 1, wait_seconds=0.05)
    reader = FakeReader(documents(1))
    async with slots.slot(ENTITY):  # the entity's one slot is taken
        reply = await service(reader, slots).answer(
            Resource.CUSTOMER, envelope(Resource.CUSTOMER, {})
        )
    assert (reply.status, reply.timeout_stage) == (503, "waiting")
    message = json.loads(reply.body)["error"]["message"]
    assert "wait limit of 50 ms" in message and "send fewer list requests at once" in message
    assert reader.finds == []
