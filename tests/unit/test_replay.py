"""The replay use case (``queries/replay.py``) with its history, sink and entities faked."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from datetime import UTC, datetime
from typing import Any

from invoicebus.domain.records import Event, Record
from invoicebus.messaging import OutgoingEvent
from invoicebus.queries.replay import EventReplay
from invoicebus_contracts import Customer, Resource

ENTITY = "ent_" + "a" * 24


def customer(n: int) -> Record[Customer]:
    model = Customer.model_validate(
        {
            "id": f"cust_{n:024x}", "name": f"C{n}", "email": None, "address": None,
            "address_2": None, "post_code": None, "city": None, "state": None, "country": None,
            "country_code": None, "tax_number": None, "entity_id": ENTITY, "metadata": {},
            "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
        }
    )  # fmt: skip
    return Record(Resource.CUSTOMER, model, Event(f"evt_{n:024x}", "customer.created", f"m{n}"))


class History:
    def __init__(self, records: list[Record[Any]]) -> None:
        self.records = records
        self.asked: list[dict[str, Any]] = []

    async def created_since(
        self,
        resources: Sequence[Resource],
        since: datetime,
        *,
        entity_id: str | None,
        after: str | None,
        batch_size: int,
    ) -> AsyncGenerator[Record[Any], None]:
        self.asked.append({"resources": list(resources), "after": after, "entity": entity_id})
        for record in self.records:
            if after is None or record.id.rpartition("_")[2] > after:
                yield record


class Sink:
    def __init__(self, queues: set[str]) -> None:
        self.queues = queues
        self.sent: list[tuple[str, OutgoingEvent]] = []

    async def send_event(self, queue: str, event: OutgoingEvent) -> bool:
        if queue not in self.queues:
            return False
        self.sent.append((queue, event))
        return True


class Entities:
    async def first_entity_id(self) -> str | None:
        return ENTITY

    async def entity_exists(self, entity_id: str) -> bool:
        return entity_id == ENTITY


def replay(history: History, sink: Sink) -> EventReplay:
    return EventReplay(history, sink, Entities(), protected_queues={"ib.customer.create"})


def request(**fields: Any) -> bytes:
    return json.dumps({"to_queue": "mine", "since": "2026-01-01", **fields}).encode()


async def test_pages_follow_the_cursor_and_each_event_is_the_records_own() -> None:
    history, sink = History([customer(n) for n in range(1, 6)]), Sink({"mine"})
    status, body = await replay(history, sink).answer(None, request(limit=2), None)
    first = json.loads(body)
    assert status == 200
    assert first == {"replayed": 2, "has_more": True, "next_cursor": f"{2:024x}"}
    status, body = await replay(history, sink).answer(
        None, request(limit=10, next_cursor=first["next_cursor"]), None
    )
    assert json.loads(body) == {"replayed": 3, "has_more": False, "next_cursor": None}
    events = [event for _, event in sink.sent]
    assert [e.id for e in events] == [f"evt_{n:024x}" for n in range(1, 6)]
    assert events[0].correlation_id == "m1"
    assert events[0].entity_id == ENTITY
    assert json.loads(events[0].body)["id"] == f"cust_{1:024x}"


async def test_types_choose_the_collections_and_the_entity_is_passed_on() -> None:
    history = History([])
    body = request(types=["customer.created", "item.created"], entity_id=ENTITY)
    status, _ = await replay(history, Sink({"mine"})).answer(None, body, None)
    assert status == 200
    assert history.asked == [
        {"resources": [Resource.CUSTOMER, Resource.ITEM], "after": None, "entity": ENTITY}
    ]


async def test_refusals_name_the_field() -> None:
    cases = {
        "protected": request(to_queue="ib.customer.create"),
        "missing queue": request(to_queue="nowhere"),
        "unknown entity": request(entity_id="ent_" + "b" * 24),
        "bad cursor": request(next_cursor="cust_0000"),
        "bad type": request(types=["customer.rejected"]),
    }
    answers = {}
    for name, body in cases.items():
        status, reply = await replay(History([customer(1)]), Sink({"mine"})).answer(
            None, body, None
        )
        error = json.loads(reply)["error"]
        answers[name] = (status, error["code"], error["errors"][0]["loc"])
    assert answers == {
        "protected": (422, "validation_error", ["to_queue"]),
        "missing queue": (422, "validation_error", ["to_queue"]),
        "unknown entity": (404, "entity_not_found", ["entity_id"]),
        "bad cursor": (422, "invalid_cursor", ["next_cursor"]),
        "bad type": (422, "validation_error", ["types", 0]),
    }
