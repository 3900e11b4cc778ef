"""The contract's exchanges, queues and bindings on the broker, with aio-pika: declared
idempotently, or checked.

What to declare is ``Topology.declarations()`` in the contracts; this only says it to the
broker. The services declare it at start. A client either checks that the exchanges exist
(the default: a mistyped prefix then fails at once, instead of declaring a second topology
that nobody consumes) or, when it may publish before the services ever started, declares it
too, so its commands wait in their queues.
"""

from __future__ import annotations

from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel
from aio_pika.exceptions import ChannelNotFoundEntity

from invoicebus_contracts import Topology

from .errors import BrokerRefused


async def declare_topology(
    channel: AbstractChannel, topology: Topology, *, delivery_limit: int
) -> None:
    """Exchanges, then queues (with the services' ``delivery_limit``), then bindings.

    The broker needs the plugin ``rabbitmq_consistent_hash_exchange`` for the command shards
    (``Topology.command_shards_exchange``); without it the declaration is refused.
    ``topology.command_shards`` must be the services' too: a declarer with more shards would
    bind shard queues that no service consumes."""
    declarations = topology.declarations(delivery_limit)
    exchanges = {}
    for exchange in declarations.exchanges:
        exchanges[exchange.name] = await channel.declare_exchange(
            exchange.name,
            aio_pika.ExchangeType(exchange.kind.value),
            durable=exchange.durable,
            arguments=dict(exchange.arguments),
        )
    queues = {}
    for queue in declarations.queues:
        arguments: dict[str, Any] = queue.amqp_arguments  # aio-pika's FieldTable is invariant
        queues[queue.name] = await channel.declare_queue(
            queue.name, durable=queue.durable, arguments=arguments
        )
    for binding in declarations.bindings:
        destination = exchanges if binding.to_exchange else queues
        await destination[binding.queue].bind(binding.exchange, routing_key=binding.routing_key)


async def check_topology(channel: AbstractChannel, topology: Topology) -> None:
    """Every exchange of the contract exists (passive declares), or ``BrokerRefused`` naming
    the first missing one. The broker closes ``channel`` on a miss: use a channel of its own."""
    for exchange in topology.declarations().exchanges:
        if exchange.name == topology.command_shards_exchange:
            continue  # the services' own routing: clients publish to the commands exchange
        try:
            await channel.declare_exchange(exchange.name, passive=True)
        except ChannelNotFoundEntity as exc:
            raise BrokerRefused(
                f"exchange {exchange.name!r} does not exist: no invoicebus service has declared"
                f" prefix {topology.prefix!r} on this virtual host (is the prefix right, and have"
                " the services started once?)"
            ) from exc


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
