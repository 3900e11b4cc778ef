"""Declares the contract's exchanges, queues and bindings with aio-pika, idempotently.

What to declare is ``Topology.declarations()`` in the contracts; this only says it to the
broker. The services declare it at start and so does the client before its first publish, so
a command published before the first service start waits in its queue instead of being dropped
by an exchange with no binding.
"""

from __future__ import annotations

from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel

from invoicebus_contracts import Topology


async def declare_topology(
    channel: AbstractChannel, topology: Topology, *, delivery_limit: int
) -> None:
    """Exchanges, then queues (with the services' ``delivery_limit``), then bindings."""
    declarations = topology.declarations(delivery_limit)
    for exchange in declarations.exchanges:
        await channel.declare_exchange(
            exchange.name, aio_pika.ExchangeType(exchange.kind.value), durable=exchange.durable
        )
    queues = {}
    for queue in declarations.queues:
        arguments: dict[str, Any] = queue.amqp_arguments  # aio-pika's FieldTable is invariant
        queues[queue.name] = await channel.declare_queue(
            queue.name, durable=queue.durable, arguments=arguments
        )
    for binding in declarations.bindings:
        await queues[binding.queue].bind(binding.exchange, routing_key=binding.routing_key)


async def declare_topology_at(url: str, topology: Topology, *, delivery_limit: int) -> None:
    """``declare_topology`` over a short-lived connection of its own (service start-up)."""
    connection = await aio_pika.connect(url)
    async with connection:
        await declare_topology(await connection.channel(), topology, delivery_limit=delivery_limit)


async def delete_topology(channel: AbstractChannel, topology: Topology) -> None:
    """Removes everything ``declare_topology`` made (tests clean up their prefix with it)."""
    declarations = topology.declarations()
    for queue in declarations.queues:
        await channel.queue_delete(queue.name)
    for exchange in declarations.exchanges:
        await channel.exchange_delete(exchange.name)
