"""The outbox relay stops on its flag, even when the driver turns a cancellation into an error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, cast

from pymongo.errors import AutoReconnect

from invoicebus.commands.outbox import Outbox
from invoicebus.commands.ports import Store


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
