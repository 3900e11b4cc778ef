"""Baseline (b): a hand-written micro-batched command pipeline, raw aio-pika + PyMongo.

Deliveries are collected into a batch of up to ``BATCH_SIZE`` messages or until
``BATCH_WAIT_SECONDS`` after the first one arrived, whichever comes first. Each batch: validate
minimally, one ``insert_many(ordered=False)``, every ``customer.created`` event published at
once and confirmed together, then one ``ack(multiple=True)``. Batches run one after another,
so delivery tags up to the batch's last one are exactly this batch's (earlier batches are
settled). An invalid body is rejected on its own (the queue dead-letters it); a failed batch is
handed back to the broker. Like baseline (a): no entity check, no idempotency, no outbox, no
reply. Give it a prefetch of at least twice the batch size so the next batch fills while one
is written.

    MONGODB_URL=... INVOICEBUS_PREFIX=... python -m benchmarks.baselines.batched
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from aio_pika.abc import AbstractExchange, AbstractIncomingMessage
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from invoicebus_contracts import Resource

from .common import (
    CUSTOMERS,
    Config,
    Document,
    channels,
    consume_until,
    created_event,
    customer_document,
    entity_of,
    serve,
)

log = logging.getLogger(__name__)

BATCH_SIZE = 100
BATCH_WAIT_SECONDS = 0.005

Inbox = asyncio.Queue[AbstractIncomingMessage]


async def next_batch(inbox: Inbox) -> list[AbstractIncomingMessage]:
    """The first message to arrive, then whatever follows within the batch limits."""
    loop = asyncio.get_running_loop()
    batch = [await inbox.get()]
    deadline = loop.time() + BATCH_WAIT_SECONDS
    while len(batch) < BATCH_SIZE:
        if not inbox.empty():
            batch.append(inbox.get_nowait())
            continue
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            batch.append(await asyncio.wait_for(inbox.get(), remaining))
        except TimeoutError:
            break
    return batch


async def write(
    batch: list[AbstractIncomingMessage],
    customers: AsyncCollection[Document],
    events: AbstractExchange,
) -> None:
    now = datetime.now(UTC)
    valid: list[tuple[AbstractIncomingMessage, Document]] = []
    for message in batch:
        doc = customer_document(message.body, entity_of(message), now)
        if doc is None:
            await message.reject()
        else:
            valid.append((message, doc))
    if not valid:
        return
    last = valid[-1][0]
    try:
        await customers.insert_many([doc for _, doc in valid], ordered=False)
        await asyncio.gather(
            *(
                events.publish(created_event(doc, m.message_id), Resource.CUSTOMER.created_key)
                for m, doc in valid
            )
        )
    except Exception:
        log.exception("a batch of %d failed; handing it back", len(valid))
        await last.nack(multiple=True, requeue=True)
        return
    await last.ack(multiple=True)


async def main(config: Config, db: AsyncDatabase[Document], stop: asyncio.Event) -> None:
    inbox: Inbox = asyncio.Queue()
    # customer.create arrives in any command shard (by entity): consume them all.
    queues = config.topology.command_queues
    async with channels(config, queues, confirms=True) as bus:
        events = await bus.publishing.get_exchange(config.topology.events_exchange, ensure=False)

        async def work() -> None:
            while True:
                await write(await next_batch(inbox), db[CUSTOMERS], events)

        async def receive(message: AbstractIncomingMessage) -> None:
            inbox.put_nowait(message)

        worker = asyncio.create_task(work())
        await consume_until(stop, bus.queues, receive)
        # Unsettled messages go back to the broker when the connection closes.
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


if __name__ == "__main__":
    serve(main)
