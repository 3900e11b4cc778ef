"""The batched write path (``commands/batch.py``) built by the composition root with fakes:
one bad command in a batch is refused alone, a batch is stored with one ``add_many``,
transient failures are retried without storing twice, and every message is acked only after
its events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from invoicebus.commands import consumer as consumer_module
from invoicebus.commands.bootstrap import CommandService, bootstrap
from invoicebus.messaging import Envelope
from invoicebus.settings import AuthMode, Settings
from invoicebus_contracts import Resource
from tests.support.memory import MemoryEntities, MemoryKeys, MemoryStore
from tests.unit.test_bootstrap import RecordedDelivery, RecordedMessenger

ENTITY = "ent_" + "e" * 24


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_module, "BACKOFF_START", 0.001)
    monkeypatch.setattr(consumer_module, "BACKOFF_MAX", 0.002)


def built(store: MemoryStore, messenger: Any, **settings: Any) -> CommandService:
    return bootstrap(
        store=store,
        messenger=messenger,
        entities=MemoryEntities(ENTITY),
        keys=MemoryKeys(),
        settings=Settings(mongodb_url=None, auth=AuthMode.OFF, **settings),
    )


def envelope(body: dict[str, Any] | bytes, message_id: str) -> Envelope:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Envelope("customer.create", raw, message_id=message_id, reply_to="r", entity_id=ENTITY)


async def send_together(
    service: CommandService, envelopes: list[Envelope]
) -> list[RecordedDelivery]:
    deliveries = [RecordedDelivery() for _ in envelopes]
    await asyncio.gather(
        *(
            service.batching.handle(Resource.CUSTOMER, e, d)
            for e, d in zip(envelopes, deliveries, strict=True)
        )
    )
    return deliveries


async def test_one_bad_command_in_a_batch_is_refused_alone() -> None:
    store, messenger = MemoryStore(), RecordedMessenger()
    service = built(store, messenger)
    envelopes = [envelope({"name": f"c{i}"}, f"m-{i}") for i in range(5)]
    envelopes[2] = envelope({"name": "bad", "colour": "red"}, "m-bad")
    deliveries = await send_together(service, envelopes)

    assert [d.settled for d in deliveries] == [["ack"]] * 5
    assert store.batches == [4]  # the four good ones, stored with one add_many
    assert sorted(r.model.name for r in store.of(Resource.CUSTOMER)) == ["c0", "c1", "c3", "c4"]
    kinds = [kind for kind, _ in messenger.sent]
    assert kinds.count("customer.created") == 4 and kinds.count("reply 201") == 4
    assert kinds.count("dead letter") == kinds.count("customer.rejected") == 1
    assert kinds.count("reply 422") == 1
    # every event before any reply: a reply never announces what is not confirmed
    assert max(i for i, k in enumerate(kinds) if k == "customer.created") < kinds.index("reply 201")
    assert not any(r.pending for r in store.records)  # marked sent
    assert store.open_batches == {}  # and the batch ended: the relay has nothing to redo


async def test_a_repeated_or_reused_key_is_answered_for_that_command_alone() -> None:
    store, messenger = MemoryStore(), RecordedMessenger()
    service = built(store, messenger)
    await send_together(service, [envelope({"name": "first"}, "k")])
    deliveries = await send_together(
        service,
        [
            envelope({"name": "first"}, "k"),  # the same command again: the original
            envelope({"name": "other"}, "k"),  # the key reused: 409
            envelope({"name": "new"}, "n"),
        ],
    )
    assert [d.settled for d in deliveries] == [["ack"]] * 3
    assert sorted(r.model.name for r in store.of(Resource.CUSTOMER)) == ["first", "new"]
    replies = [kind for kind, _ in messenger.sent if kind.startswith("reply")]
    assert sorted(replies) == ["reply 201", "reply 201", "reply 201", "reply 409"]


class FlakyStore(MemoryStore):
    """Its first ``add_many`` stores the records and then fails, as a lost connection can."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def add_many(self, entries: Any) -> Any:
        results = await super().add_many(entries)
        if self.failures:
            self.failures -= 1
            raise AutoReconnect("connection lost after the write")
        return results


async def test_a_transient_failure_is_retried_without_storing_twice() -> None:
    store, messenger = FlakyStore(), RecordedMessenger()
    service = built(store, messenger)
    envelopes = [envelope({"name": f"c{i}"}, "") for i in range(3)]  # no key: ids protect them
    deliveries = await send_together(service, envelopes)
    assert [d.settled for d in deliveries] == [["ack"]] * 3
    assert store.batches == [3, 3]
    assert len(store.of(Resource.CUSTOMER)) == 3
    assert [kind for kind, _ in messenger.sent].count("customer.created") == 3


async def test_a_batch_past_its_retry_window_goes_back_to_the_broker() -> None:
    store, messenger = FlakyStore(), RecordedMessenger()
    store.failures = 10**6
    service = built(store, messenger, transient_retry_seconds=0.05)
    deliveries = await send_together(service, [envelope({"name": "c"}, "m")])
    assert [d.settled for d in deliveries] == [["nack"]]
    assert not [kind for kind, _ in messenger.sent if kind == "customer.created"]


async def test_commands_without_a_builder_take_the_one_by_one_path() -> None:
    store, messenger = MemoryStore(), RecordedMessenger()
    service = built(store, messenger)
    delivery = RecordedDelivery()
    tax = Envelope("tax.create", b'{"rate": 10}', message_id="t", reply_to="r", entity_id=ENTITY)
    await service.batching.handle(Resource.TAX, tax, delivery)
    assert delivery.settled == ["ack"] and store.batches == []
    assert [kind for kind, _ in messenger.sent] == ["tax.created", "reply 201"]
