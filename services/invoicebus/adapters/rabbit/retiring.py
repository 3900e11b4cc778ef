"""Retiring the command queues of an earlier topology without losing a command.

Before sharding there was one queue per command type; after a change of
``Topology.command_shards`` there may be shards past the new N. At start, once the current
topology is declared (so every command has a shard to go to), each such queue that still
exists is unbound (it gets nothing new), deleted if it is empty and unused, and otherwise
named for the service to drain: it consumes it like a shard until a later start finds it
empty. Nothing is moved: a republished copy would lose its publisher's ``user_id``, which the
services authenticate by.
"""

from __future__ import annotations

import logging

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection
from aio_pika.exceptions import ChannelClosed, ChannelNotFoundEntity, ChannelPreconditionFailed

from invoicebus_contracts import Resource, Topology
from invoicebus_contracts.topology import SHARD_WEIGHT

log = logging.getLogger(__name__)


def _former_binding(topology: Topology, name: str) -> tuple[str, str]:
    """The exchange and key a retired queue was bound with."""
    for resource in Resource:
        if name == topology.legacy_command_queue(resource):
            return topology.commands_exchange, resource.create_key
    return topology.command_shards_exchange, SHARD_WEIGHT


async def _probe(connection: AbstractConnection, name: str) -> AbstractChannel | None:
    """A channel on which ``name`` exists, or None (a passive miss closes its channel)."""
    channel = await connection.channel()
    try:
        await channel.declare_queue(name, passive=True)
    except ChannelNotFoundEntity:
        return None
    return channel


async def retire_command_queues(url: str, topology: Topology) -> list[str]:
    """Unbind the retired command queues, delete the empty unused ones; return the others,
    which still hold commands (or a consumer of an older replica) and must be drained."""
    draining: list[str] = []
    connection = await aio_pika.connect(url)
    async with connection:
        for name in topology.retired_command_queues:
            channel = await _probe(connection, name)
            if channel is None:
                continue
            queue = await channel.declare_queue(name, passive=True)
            exchange, key = _former_binding(topology, name)
            await queue.unbind(exchange, routing_key=key)
            try:
                await queue.delete(if_unused=True, if_empty=True)
            except (ChannelPreconditionFailed, ChannelClosed):
                log.warning("retired command queue %s still holds commands: draining it", name)
                draining.append(name)
            else:
                log.info("retired command queue %s was empty: deleted", name)
            if not channel.is_closed:
                await channel.close()
    return draining
