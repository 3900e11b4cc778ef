"""A command's reply is best effort (issue 9, item 2, the command side), over the real broker
and database.

A ``reply_to`` queue that refuses publishes (``x-max-length: 0``, ``x-overflow:
reject-publish``) used to make each command retry its nacked reply for 120 s, holding a
prefetch slot each, so other clients' commands went unanswered.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aio_pika
import pytest

from invoicebus import metrics
from invoicebus.settings import Settings
from tests.support.amqp import RawClient

#: More than the command queue's prefetch window (16 by default).
COMMANDS = 20


def count(metric: Any, *labels: str) -> float:
    return float(metric.labels(*labels)._value.get())


@pytest.mark.usefixtures("command_service")
async def test_a_reply_queue_that_refuses_publishes_holds_no_command(
    settings: Settings, client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    def undeliverable() -> float:
        return count(metrics.UNDELIVERABLE_REPLIES, "customer.create")

    def retried() -> float:
        return count(metrics.TRANSIENT_FAILURES, "command")

    before, retried_before = undeliverable(), retried()
    run = uuid.uuid4().hex[:8]
    message_ids = [f"refused-{run}-{i}" for i in range(COMMANDS)]
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        refusing = await channel.declare_queue(
            f"ibtest-refusing-{run}",
            exclusive=True,
            arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
        )
        commands = await channel.get_exchange(f"{settings.prefix}.commands", ensure=False)
        for i, message_id in enumerate(message_ids):
            await commands.publish(
                aio_pika.Message(
                    json.dumps({"name": f"Refused reply {i}"}).encode(),
                    content_type="application/json",
                    message_id=message_id,
                    reply_to=refusing.name,
                    headers={"x-entity-id": entity["id"]},
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key="customer.create",
            )
        # Another client's command is answered: no slot is held by a refused reply ...
        other = await client.command("customer.create", {"name": "Other"}, entity_id=entity["id"])
        assert other.status == 201, other.body
        # ... because the 20 are settled, each reply tried once and counted.
        for _ in range(300):
            if undeliverable() - before >= COMMANDS:
                break
            await asyncio.sleep(0.1)
        assert undeliverable() - before == COMMANDS
        assert retried() == retried_before  # no reply was retried
    for message_id in message_ids:  # stored once each
        assert await db.customers.count_documents({"_idem.key": message_id}) == 1
