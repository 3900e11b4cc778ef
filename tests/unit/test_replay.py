"""The replay use case (``queries/replay.py``) with its history, sink and entities faked."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from datetime import UTC, datetime
from typing import Any

from invoicebus.access import Access, Policy
from invoicebus.domain.records import Event, Record
from invoicebus.messaging import Envelope, OutgoingEvent
from invoicebus.queries.replay import EventReplay
from invoicebus.queries.slots import Slots
from invoicebus.settings import AuthMode
from invoicebus.tenancy import Tenancy
from invoicebus_contracts import Customer, Resource

ENTITY = "ent_" + "a" * 24
OTHER = "ent_" + "c" * 24


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
    """Two entities; alice holds a grant on the first."""

    async def first_entity_id(self) -> str | None:
        return ENTITY

    async def entity_exists(self, entity_id: str) -> bool:
        return entity_id in (ENTITY, OTHER)

    async def first_granted(self, principal: str) -> str | None:
        return ENTITY if principal == "alice" else None

    async def granted(self, principal: str, entity_id: str) -> bool:
        return principal == "alice" and entity_id == ENTITY


class Keys:
    async def principal_of(self, key_sha256: str) -> str | None:
        return None


class Replaying:
    """The replay use case, its replies as (status, body)."""

    def __init__(self, replay: EventReplay) -> None:
        self.replay = replay

    async def answer(self, key: object, envelope: Envelope) -> tuple[int, bytes]:
        reply = await self.replay.answer(key, envelope)
        return reply.status, reply.body


def replay(history: History, sink: Sink, mode: AuthMode = AuthMode.OFF) -> Replaying:
    access = Access(Policy(mode, admins=frozenset({"ops"})), Tenancy(Entities()), Keys())
    slots = Slots(2, 1, wait_seconds=1)
    return Replaying(
        EventReplay(history, sink, access, protected_queues={"ib.customer.create"}, slots=slots)
    )


def request(user_id: str | None = None, **fields: Any) -> Envelope:
    body = json.dumps({"to_queue": "mine", "since": "2026-01-01", **fields}).encode()
    return Envelope("events.replay", body, user_id=user_id)


async def test_pages_follow_the_cursor_and_each_event_is_the_records_own() -> None:
    history, sink = History([customer(n) for n in range(1, 6)]), Sink({"mine"})
    status, body = await replay(history, sink).answer(None, request(limit=2))
    first = json.loads(body)
    assert status == 200
    assert first == {"replayed": 2, "has_more": True, "next_cursor": f"{2:024x}"}
    status, body = await replay(history, sink).answer(
        None, request(limit=10, next_cursor=first["next_cursor"])
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
    status, _ = await replay(history, Sink({"mine"})).answer(None, body)
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
        status, reply = await replay(History([customer(1)]), Sink({"mine"})).answer(None, body)
        error = json.loads(reply)["error"]
        answers[name] = (status, error["code"], error["errors"][0]["loc"])
    assert answers == {
        "protected": (422, "validation_error", ["to_queue"]),
        "missing queue": (422, "validation_error", ["to_queue"]),
        "unknown entity": (404, "entity_not_found", ["entity_id"]),
        "bad cursor": (422, "invalid_cursor", ["next_cursor"]),
        "bad type": (422, "validation_error", ["types", 0]),
    }


async def test_who_may_replay_what_when_authorization_is_required() -> None:
    async def answer(history: History, envelope: Envelope) -> tuple[int, Any]:
        status, body = await replay(history, Sink({"mine"}), AuthMode.REQUIRED).answer(
            None, envelope
        )
        return status, json.loads(body)

    anonymous = await answer(History([]), request())
    assert anonymous[0] == 401 and anonymous[1]["error"]["code"] == "unauthenticated"
    # Another tenant's entity, and one that does not exist: the same refusal.
    for entity in (OTHER, "ent_" + "d" * 24):
        status, body = await answer(History([]), request("alice", entity_id=entity))
        assert (status, body["error"]["errors"][0]["loc"]) == (404, ["entity_id"])
        assert body["error"]["message"] == f"entity {entity!r} does not exist"
    # A tenant naming no entity replays its own (its first granted), never everyone's.
    history = History([])
    assert (await answer(history, request("alice")))[0] == 200
    assert history.asked[-1]["entity"] == ENTITY
    nobody = await answer(History([]), request("mallory"))
    assert nobody[0] == 404
    # An admin naming none replays every entity's.
    history = History([])
    assert (await answer(history, request("ops")))[0] == 200
    assert history.asked[-1]["entity"] is None
