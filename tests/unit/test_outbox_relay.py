"""The outbox relay stops on its flag, even when the driver turns a cancellation into an error,
and each pass sets the backlog gauges the "pending too long" alert reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, cast

from pymongo.errors import AutoReconnect

from invoicebus import metrics
from invoicebus.commands.bootstrap import bootstrap
from invoicebus.commands.outbox import Outbox
from invoicebus.commands.ports import Store
from invoicebus.domain import clock
from invoicebus.messaging import Envelope
from invoicebus.settings import Settings
from invoicebus_contracts import Resource
from tests.support.memory import MemoryEntities, MemoryKeys, MemoryStore


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
