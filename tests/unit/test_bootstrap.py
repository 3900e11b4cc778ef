"""The command service built by its composition root with fakes only: one command from the
envelope to the ack, the events, the reply and the stored record, without a server."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from invoicebus.commands.bootstrap import bootstrap
from invoicebus.messaging import Envelope
from invoicebus.settings import AuthMode, Settings
from invoicebus_contracts import ErrorBody, Resource
from tests.support.memory import MemoryEntities, MemoryKeys, MemoryStore


class RecordedMessenger:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.correlation_ids: list[str | None] = []
        self.envelopes: list[Envelope] = []  # of the replies and dead letters

    async def publish_event(
        self, event_type: str, body: bytes, *, event_id: str, correlation_id: str | None,
        entity_id: str | None, tenant_entity: str | None,
    ) -> None:  # fmt: skip
        event = {"body": json.loads(body), "entity_id": entity_id, "tenant": tenant_entity}
        self.sent.append((event_type, event))
        self.correlation_ids.append(correlation_id)

    async def reply(self, envelope: Envelope, status: int, body: bytes) -> None:
        self.sent.append((f"reply {status}", json.loads(body)))
        self.envelopes.append(envelope)

    async def dead_letter(self, envelope: Envelope, error: ErrorBody) -> None:
        self.sent.append(("dead letter", error.error.code.value))
        self.envelopes.append(envelope)


class RecordedDelivery:
    def __init__(self) -> None:
        self.settled: list[str] = []
        self.channel_closed = False

    async def ack(self) -> None:
        self.settled.append("ack")

    async def nack(self, *, requeue: bool) -> None:
        self.settled.append("nack")

    async def reject(self) -> None:
        self.settled.append("reject")


async def test_a_service_built_from_fakes_runs_commands_end_to_end() -> None:
    store, messenger, entities = MemoryStore(), RecordedMessenger(), MemoryEntities()
    service = bootstrap(
        store=store,
        messenger=messenger,
        entities=entities,
        keys=MemoryKeys(),
        settings=Settings(mongodb_url=None, auth=AuthMode.OFF),
    )

    async def send(key: str, body: dict[str, Any]) -> RecordedDelivery:
        delivery = RecordedDelivery()
        envelope = Envelope(key, json.dumps(body).encode(), message_id=f"m-{key}", reply_to="r")
        await service.consumer.handle(Resource(key.split(".")[0]), envelope, delivery)
        return delivery

    assert (await send("entity.create", {"name": "Acme"})).settled == ["ack"]
    [entity] = store.of(Resource.ENTITY)
    entities.add(entity.id)
    assert (
        await send("item.create", {"name": "Tea", "price": 2, "taxes": [{"rate": 22}]})
    ).settled == ["ack"]
    [tax] = store.of(Resource.TAX)
    [item] = store.of(Resource.ITEM)
    assert [kind for kind, _ in messenger.sent] == [
        "entity.created", "reply 201", "tax.created", "item.created", "reply 201",
    ]  # fmt: skip
    assert messenger.sent[0][1]["entity_id"] == entity.id  # an entity is its own tenant
    assert messenger.sent[3][1] == {
        "body": item.model.model_dump(mode="json"),
        "entity_id": entity.id,
        "tenant": entity.id,  # on the tenant events exchange too
    }
    assert item.model.tax_ids == [tax.id] and item.model.total_tax == Decimal("0.44")
    assert not any(r.pending for r in store.records)  # every event marked sent

    assert (await send("customer.create", {"name": "Bob", "colour": "red"})).settled == ["ack"]
    assert [kind for kind, _ in messenger.sent[5:]] == [
        "dead letter", "customer.rejected", "reply 422",
    ]  # fmt: skip


async def test_a_command_with_text_that_is_not_utf8_is_refused_once_and_said_so_in_utf8() -> None:
    store, messenger = MemoryStore(), RecordedMessenger()
    service = bootstrap(
        store=store,
        messenger=messenger,
        entities=MemoryEntities(),
        keys=MemoryKeys(),
        settings=Settings(mongodb_url=None, auth=AuthMode.OFF),
    )
    poison = Envelope(
        "customer.create",
        b'{"name": "Valid"}',
        message_id="bad-\udcff\udcfe",  # what pamqp_patch decodes b"bad-\xff\xfe" to
        reply_to="amq.rabbitmq.reply-to",
        undecodable=(("message_id",), ("headers", "k\\xff")),
    )
    delivery = RecordedDelivery()
    await service.consumer.handle(Resource.CUSTOMER, poison, delivery)

    assert delivery.settled == ["ack"] and store.records == []
    assert [kind for kind, _ in messenger.sent] == [
        "dead letter", "customer.rejected", "reply 422",
    ]  # fmt: skip
    assert messenger.envelopes == [poison, poison]  # the dead letter is the original
    rejected, reply = messenger.sent[1][1]["body"], messenger.sent[2][1]
    assert rejected["command_id"] == messenger.correlation_ids[0] == "bad-\\xff\\xfe"
    assert reply["error"]["code"] == "validation_error"
    assert [e["loc"] for e in reply["error"]["errors"]] == [["message_id"], ["headers", "k\\xff"]]
    assert reply["error"]["message"].startswith('invalid message_id, headers "k\\xff": not UTF-8')
    assert poison.reply_correlation_id == "bad-\\xff\\xfe"


async def test_with_authorization_required_the_sender_and_its_grants_decide() -> None:
    store, messenger, entities = MemoryStore(), RecordedMessenger(), MemoryEntities()
    service = bootstrap(
        store=store,
        messenger=messenger,
        entities=entities,
        keys=MemoryKeys(),
        settings=Settings(mongodb_url=None, auth=AuthMode.REQUIRED),
    )

    async def send(
        key: str, body: dict[str, Any], user: str | None, entity: str | None = None
    ) -> None:
        envelope = Envelope(
            key, json.dumps(body).encode(), reply_to="r", user_id=user, entity_id=entity
        )
        await service.consumer.handle(Resource(key.split(".")[0]), envelope, RecordedDelivery())

    await send("entity.create", {"name": "Acme"}, None)
    assert [kind for kind, _ in messenger.sent] == ["dead letter", "entity.rejected", "reply 401"]
    await send("entity.create", {"name": "Acme"}, "alice")
    [entity] = store.of(Resource.ENTITY)
    assert entity.grants == ("alice",)  # stored with the entity, in the same write
    entities.add(entity.id, "alice")
    messenger.sent.clear()

    await send("customer.create", {}, "alice")  # her own mistake: her tenant hears of it
    await send("customer.create", {"name": "x"}, "mallory", entity.id)  # not his entity
    rejected = [event for kind, event in messenger.sent if kind == "customer.rejected"]
    assert [event["tenant"] for event in rejected] == [entity.id, None]
    assert [kind for kind, _ in messenger.sent if kind.startswith("reply")] == [
        "reply 422", "reply 404",
    ]  # fmt: skip


class RefusingReplies(RecordedMessenger):
    """A broker that refuses every reply (a reply_to queue that rejects publishes)."""

    def __init__(self) -> None:
        super().__init__()
        self.reply_attempts = 0

    async def reply(self, envelope: Envelope, status: int, body: bytes) -> None:
        self.reply_attempts += 1
        raise ConnectionError("NACK: the reply_to queue refuses publishes")


async def test_an_undeliverable_reply_is_counted_once_and_the_command_acked() -> None:
    from invoicebus import metrics

    store, messenger = MemoryStore(), RefusingReplies()
    service = bootstrap(
        store=store,
        messenger=messenger,
        entities=MemoryEntities(),
        keys=MemoryKeys(),
        settings=Settings(mongodb_url=None, auth=AuthMode.OFF),
    )
    series = metrics.UNDELIVERABLE_REPLIES.labels("entity.create")
    before = series._value.get()
    for body in ({"name": "Acme"}, {"name": "Acme", "colour": "red"}):  # created, refused
        delivery = RecordedDelivery()
        envelope = Envelope("entity.create", json.dumps(body).encode(), reply_to="refusing")
        await service.consumer.handle(Resource.ENTITY, envelope, delivery)
        assert delivery.settled == ["ack"]
    assert messenger.reply_attempts == 2  # each tried once, never retried
    assert series._value.get() - before == 2
    assert len(store.of(Resource.ENTITY)) == 1
    assert [kind for kind, _ in messenger.sent] == [
        "entity.created", "dead letter", "entity.rejected",
    ]  # fmt: skip
