"""Removing what a test run made on the shared servers: its topology and its database."""

from __future__ import annotations

import aio_pika

from invoicebus.adapters.mongo.client import connect
from invoicebus_client.topology import delete_topology
from invoicebus_contracts import Topology


async def remove_run(amqp_url: str, mongodb_url: str, prefix: str, database: str) -> None:
    """Delete the exchanges and queues of ``prefix`` and drop ``database``."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        await delete_topology(await connection.channel(), Topology(prefix))
    mongo = connect(mongodb_url)
    await mongo.drop_database(database)
    await mongo.close()
