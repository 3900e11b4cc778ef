"""The outbox relay stops on its flag, even when the driver turns a cancellation into an error,
each pass sets the backlog gauges the "pending too long" alert reads, and a batch left pending
(a crash between its write and its publish) is published once, whole, and then ended."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from pymongo.errors import AutoReconnect

from invoicebus import metrics
from invoicebus.commands.bootstrap import bootstrap
from invoicebus.commands.outbox import Outbox
from invoicebus.commands.pipeline import Prepared
from invoicebus.commands.ports import Store
from invoicebus.domain import clock
from invoicebus.messaging import Envelope
from invoicebus.settings import Settings
from invoicebus_contracts import Resource
from tests.support.memory import MemoryEntities, MemoryKeys, MemoryStore
from tests.unit.test_bootstrap import RecordedMessenger


class VanishedDatabase:
    """Every round fails as a closed connection would, like a cancelled driver call can."""

    def __init__(self) -> None:
        self.rounds = 0
        self.retried = asyncio.Event()

    async def pending(self, created_before: datetime) -> AsyncIterator[Any]:
        self.rounds += 1
        if self.rounds == 3:
            self.retried.set()
        raise AutoReconnect("Connection is closed")
        yield  # pragma: no cover - makes this an async generator

    async def backlog(self) -> Any:
        raise AutoReconnect("Connection is closed")


async def test_relay_ends_when_told_to_stop_although_every_round_fails() -> None:
    store = VanishedDatabase()
    outbox = Outbox(cast(Store, store), messenger=cast(Any, None))
    stop = asyncio.Event()
    relay = asyncio.create_task(outbox.run(0.05, 0, stop))
    await asyncio.wait_for(store.retried.wait(), 5)  # it retries failed rounds...
    stop.set()  # ...until the flag is set, without needing a cancellation
    await asyncio.wait_for(relay, 5)
    assert relay.done()
    assert relay.exception() is None


async def test_each_pass_shows_the_unsent_events_and_the_oldest_ones_age() -> None:
    store = MemoryStore()
    service = bootstrap(
        store=store,
        messenger=cast(Any, None),
        entities=MemoryEntities(),
        keys=MemoryKeys(),
        settings=Settings(auth="off"),
    )
    outbox = service.pipeline.outbox
    await outbox.observe_backlog()
    assert gauges() == {r.value: (0, 0) for r in Resource}  # none pending: zero, not absent

    # Stored and not yet published (the command stopped between the write and the publish).
    envelope = Envelope("entity.create", b'{"name": "Acme"}', message_id="m-1")
    await service.pipeline.decide(Resource.ENTITY, envelope)
    [record] = store.records
    record.model = record.model.model_copy(update={"created_at": clock.now() - timedelta(hours=1)})
    await outbox.observe_backlog()
    pending, age = gauges()["entity"]
    assert pending == 1 and 3600 <= age < 3700
    assert gauges()["customer"] == (0, 0)

    record.pending = False  # published after all
    await outbox.observe_backlog()
    assert gauges()["entity"] == (0, 0)


def gauges() -> dict[str, tuple[float, float]]:
    """resource -> (invoicebus_outbox_pending_events, ..._oldest_pending_age_seconds)."""
    value = metrics.COMMAND_SERVICE.get_sample_value
    return {
        r.value: (
            value("invoicebus_outbox_pending_events", {"resource": r.value}) or 0,
            value("invoicebus_outbox_oldest_pending_age_seconds", {"resource": r.value}) or 0,
        )
        for r in Resource
    }


ENTITY = "ent_" + "e" * 24


async def stored_unsent_batch(size: int) -> tuple[MemoryStore, RecordedMessenger, Any]:
    """A batch stored and never delivered, as after a crash between the write and the
    publish: its records are pending together, as one batch."""
    store, messenger = MemoryStore(), RecordedMessenger()
    service = bootstrap(
        store=store,
        messenger=messenger,
        entities=MemoryEntities(ENTITY),
        keys=MemoryKeys(),
        settings=Settings(auth="off"),
    )
    prepared = [
        await service.pipeline.prepare(
            Resource.CUSTOMER,
            Envelope("customer.create", b'{"name": "C%d"}' % i, f"m-{i}", entity_id=ENTITY),
            service.batching.builders[Resource.CUSTOMER],
        )
        for i in range(size)
    ]
    assert all(isinstance(p, Prepared) for p in prepared)
    await store.add_many([(p.record, p.key) for p in prepared if isinstance(p, Prepared)])
    minute = timedelta(minutes=1)  # a minute old: past a grace of seconds, within an hour's
    store.open_batches = {b: (at - minute, ids) for b, (at, ids) in store.open_batches.items()}
    return store, messenger, service.pipeline.outbox


def created_ids(messenger: RecordedMessenger) -> list[str]:
    return [event["body"]["id"] for kind, event in messenger.sent if kind == "customer.created"]


async def test_the_relay_publishes_a_batch_left_pending_once_then_ends_it() -> None:
    store, messenger, outbox = await stored_unsent_batch(3)
    [(batch, (_, ids))] = store.open_batches.items()
    assert not [r async for r in store.pending(clock.now())]  # not pending one by one

    assert await outbox.relay_once(grace_seconds=3600) == 0  # too young: its command runs
    assert messenger.sent == [] and batch in store.open_batches
    await outbox.observe_backlog()
    assert gauges()["customer"][0] == 3  # the gauges count a batch's records

    assert await outbox.relay_once(grace_seconds=10) == 3
    assert created_ids(messenger) == ids  # every event of the batch, in order
    assert store.open_batches == {}
    assert await outbox.relay_once(grace_seconds=10) == 0  # once
    await outbox.observe_backlog()
    assert gauges()["customer"] == (0, 0)


async def test_a_batch_record_never_stored_is_skipped_and_the_batch_still_ends() -> None:
    store, messenger, outbox = await stored_unsent_batch(2)
    [(batch, (created_at, ids))] = store.open_batches.items()
    store.open_batches[batch] = (created_at, [*ids, "cus_never_stored"])  # its insert failed

    assert await outbox.relay_once(grace_seconds=10) == 2
    assert created_ids(messenger) == ids
    assert store.open_batches == {}


class FailingOnce(RecordedMessenger):
    """The broker refuses the first publish (gone for a moment)."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def publish_event(self, event_type: str, body: bytes, **fields: Any) -> None:
        if not self.failed:
            self.failed = True
            raise AutoReconnect("broker away")
        await super().publish_event(event_type, body, **fields)


async def test_a_batch_whose_publish_fails_stays_pending_whole_for_the_next_round() -> None:
    store, _, outbox = await stored_unsent_batch(3)
    messenger = FailingOnce()
    outbox.messenger = messenger
    [batch] = store.open_batches

    with pytest.raises(AutoReconnect):
        await outbox.relay_once(grace_seconds=10)
    assert batch in store.open_batches  # not ended: some of its events may be unsent

    assert await outbox.relay_once(grace_seconds=10) == 3
    assert len(set(created_ids(messenger))) == 3
    assert store.open_batches == {}
