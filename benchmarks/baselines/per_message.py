"""Baseline (a): a hand-written per-message command pipeline, raw aio-pika + PyMongo.

For each ``customer.create`` delivery, handled concurrently up to the prefetch window:
validate minimally, ``insert_one``, publish ``customer.created`` and wait for its confirm,
ack. An invalid body is rejected (the queue dead-letters it); a failed write or publish is
handed back to the broker. It does less than the service: no entity check, no idempotency key,
no outbox, no reply.

    MONGODB_URL=... INVOICEBUS_PREFIX=... python -m benchmarks.baselines.per_message
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from aio_pika.abc import AbstractIncomingMessage
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


async def main(config: Config, db: AsyncDatabase[Document], stop: asyncio.Event) -> None:
    customers = db[CUSTOMERS]
    # customer.create arrives in any command shard (by entity): consume them all.
    queues = config.topology.command_queues
    async with channels(config, queues, confirms=True) as bus:
        events = await bus.publishing.get_exchange(config.topology.events_exchange, ensure=False)

        async def handle(message: AbstractIncomingMessage) -> None:
            doc = customer_document(message.body, entity_of(message), datetime.now(UTC))
            if doc is None:
                await message.reject()
                return
            try:
                await customers.insert_one(doc)
                await events.publish(
                    created_event(doc, message.message_id), Resource.CUSTOMER.created_key
                )
            except Exception:
                log.exception("customer.create %s failed; handing it back", message.message_id)
                await message.nack(requeue=True)
                return
            await message.ack()

        await consume_until(stop, bus.queues, handle)


if __name__ == "__main__":
    serve(main)
