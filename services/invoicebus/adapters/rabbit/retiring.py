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
from aio_pika.exceptions import ChannelNotFoundEntity

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
            async with channel:
                exchange, key = _former_binding(topology, name)
                queue = await channel.declare_queue(name, passive=True)
                await queue.unbind(exchange, routing_key=key)
                # Counted after the unbind, so nothing new arrives. Quorum queues support
                # neither if-empty nor if-unused deletes: no consumer means no unacked
                # messages, so ready and consumers both 0 means empty.
                state = (await channel.declare_queue(name, passive=True)).declaration_result
                if state.message_count or state.consumer_count:
                    log.warning(
                        "retired command queue %s holds %d commands (%d consumers): draining it",
                        name,
                        state.message_count,
                        state.consumer_count,
                    )
                    draining.append(name)
                else:
                    await queue.delete(if_unused=False, if_empty=False)
                    log.info("retired command queue %s was empty: deleted", name)
    return draining
