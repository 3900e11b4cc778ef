"""Declares the contract's exchanges and queues, idempotently.

The services declare it at start and so does the CLI, so a command published before the first
service start waits in its queue instead of being dropped by an exchange with no binding.
Queue arguments live here only: a queue declared twice with different arguments is refused by
the broker (PRECONDITION_FAILED), so every declarer must use these.
"""

from __future__ import annotations

from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel

from invoicebus_contracts import Resource, Topology

COMMANDS: tuple[Resource, ...] = tuple(Resource)
QUERIES: tuple[Resource, ...] = tuple(Resource)


def command_queue_arguments(topology: Topology, delivery_limit: int) -> dict[str, Any]:
    """Quorum queue, dead-lettering at-least-once to the DLX after ``delivery_limit`` tries."""
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": topology.dead_letter_exchange,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",  # required by at-least-once dead-lettering
        "x-delivery-limit": delivery_limit,
    }


def query_queue_arguments() -> dict[str, Any]:
    return {"x-queue-type": "quorum"}


def dead_letter_queue_arguments() -> dict[str, Any]:
    # Classic, not quorum: RabbitMQ 4 gives quorum queues a default delivery limit (20), and
    # browsing the dead letters (get, then requeue) counts as deliveries; past the limit a
    # queue with no dead-letter exchange of its own would drop them. A durable classic queue
    # with persistent messages keeps them however often they are looked at.
    return {"x-queue-type": "classic"}


async def declare_topology(
    channel: AbstractChannel, topology: Topology, *, delivery_limit: int
) -> None:
    """Exchanges, the dead-letter queue, every command queue and every query queue."""
    topic, direct = aio_pika.ExchangeType.TOPIC, aio_pika.ExchangeType.DIRECT
    commands = await channel.declare_exchange(topology.commands_exchange, topic, durable=True)
    await channel.declare_exchange(topology.events_exchange, topic, durable=True)
    queries = await channel.declare_exchange(topology.queries_exchange, direct, durable=True)
    dlx = await channel.declare_exchange(topology.dead_letter_exchange, topic, durable=True)

    dead_letters = await channel.declare_queue(
        topology.dead_letter_queue, durable=True, arguments=dead_letter_queue_arguments()
    )
    await dead_letters.bind(dlx, routing_key="#")

    for resource in COMMANDS:
        queue = await channel.declare_queue(
            topology.command_queue(resource),
            durable=True,
            arguments=command_queue_arguments(topology, delivery_limit),
        )
        await queue.bind(commands, routing_key=resource.create_key)
    for resource in QUERIES:
        queue = await channel.declare_queue(
            topology.query_queue(resource), durable=True, arguments=query_queue_arguments()
        )
        await queue.bind(queries, routing_key=resource.list_key)


async def declare_topology_at(url: str, topology: Topology, *, delivery_limit: int) -> None:
    """``declare_topology`` over a short-lived connection of its own (service start-up)."""
    connection = await aio_pika.connect(url)
    async with connection:
        await declare_topology(await connection.channel(), topology, delivery_limit=delivery_limit)


async def delete_topology(channel: AbstractChannel, topology: Topology) -> None:
    """Removes everything ``declare_topology`` made (used by tests to clean up their prefix)."""
    names = [topology.command_queue(r) for r in COMMANDS] + [
        topology.query_queue(r) for r in QUERIES
    ]
    for name in [*names, topology.dead_letter_queue]:
        await channel.queue_delete(name)
    for exchange in (
        topology.commands_exchange,
        topology.events_exchange,
        topology.queries_exchange,
        topology.dead_letter_exchange,
    ):
        await channel.exchange_delete(exchange)
