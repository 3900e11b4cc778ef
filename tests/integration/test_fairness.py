"""Fairness between tenants (issue 9 item 9): commands wait in shard queues chosen by a
consistent hash of ``x-entity-id``, so one tenant's flood does not hold up another's command;
the consistent-hash exchange routes every header value; queues of an earlier topology are
drained, never dropped. Real RabbitMQ and SecantusDB, services of their own per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from aio_pika.exceptions import ChannelNotFoundEntity

from invoicebus.adapters.mongo.client import connect
from invoicebus.settings import Settings
from invoicebus_client.topology import declare_topology, delete_topology
from invoicebus_contracts import Resource, Topology
from tests.support.amqp import RawClient, peek_queue

#: The flood of tenant A, queued before tenant B's command: small enough for CI, large enough
#: that draining it takes far longer than one command (SecantusDB: tens of commands a second).
FLOOD = 1500


def own_settings(settings: Settings, name: str, **changes: Any) -> Settings:
    prefix = f"{settings.prefix}-{name}-{uuid.uuid4().hex[:4]}"
    return Settings(**settings.model_dump() | {"prefix": prefix} | changes)


async def shard_of(url: str, topology: Topology, message_id: str) -> str:
    """The shard queue holding the message ``message_id`` (nothing consumes them now)."""
    for queue in topology.command_queues:
        if any(m.message_id == message_id for m in await peek_queue(url, queue)):
            return queue
    raise AssertionError(f"{message_id} is in no shard")


async def queued(url: str, topology: Topology) -> int:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        total = 0
        for name in topology.command_queues:
            queue = await channel.declare_queue(name, passive=True)
            total += queue.declaration_result.message_count or 0
        return total


async def test_the_shard_exchange_routes_every_entity_header(settings: Settings) -> None:
    """Absent, blank and non-string ``x-entity-id`` values are routed to a shard like any
    other (none is dropped on the way, so each gets its refusal from the service); one
    entity's commands share a shard; other routing keys stay unroutable, as before."""
    own = own_settings(settings, "routes")
    topology = own.topology
    connection = await aio_pika.connect(own.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare_topology(channel, topology, delivery_limit=10)
        try:
            commands = await channel.get_exchange(topology.commands_exchange)
            values: list[Any] = [None, "", "ent_" + "a" * 24, 0, False, [1], {"a": 1}, b"\xff"]
            values += ["ent_" + "a" * 24] * 3  # the same entity, three times
            for i, value in enumerate(values):
                headers = {} if value is None else {"x-entity-id": value}
                sent = aio_pika.Message(b"{}", headers=headers, message_id=f"m{i}")
                await commands.publish(sent, routing_key=Resource.CUSTOMER.create_key)
            await commands.publish(aio_pika.Message(b"{}", message_id="x"), routing_key="x.y")
            shards: dict[str, str] = {}
            for name in topology.command_queues:
                for message in await peek_queue(own.amqp_url, name):
                    shards[message.message_id or ""] = name
                    # The delivery names the exchange and key the client published with.
                    assert message.exchange == topology.commands_exchange
                    assert message.routing_key == Resource.CUSTOMER.create_key
            assert sorted(shards) == sorted(f"m{i}" for i in range(len(values)))
            assert shards["m2"] == shards["m8"] == shards["m9"] == shards["m10"]
        finally:
            await delete_topology(await connection.channel(), topology)


async def test_an_unknown_routing_key_is_dead_lettered_with_its_reason(
    settings: Settings, client: RawClient, command_service: Any
) -> None:
    """A routing key that names no command reaches a shard only if someone binds it by hand:
    it is refused like any bad command, never retried, and kept in the dead-letter queue."""
    topology = settings.topology
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        shards = await channel.get_exchange(topology.command_shards_exchange)
        await shards.bind(topology.commands_exchange, routing_key="customer.delete")
        try:
            message_id = f"unknown-{uuid.uuid4().hex}"
            reply = await client.command("customer.delete", {}, message_id=message_id)
        finally:
            await shards.unbind(topology.commands_exchange, routing_key="customer.delete")
    assert reply.status == 422
    assert reply.body["error"]["code"] == "validation_error"
    assert "'customer.delete' names no command" in reply.body["error"]["message"]
    letters = await peek_queue(settings.amqp_url, topology.dead_letter_queue)
    [letter] = [m for m in letters if m.message_id == message_id]
    assert (letter.headers or {})["x-error-code"] == "validation_error"
    assert (letter.headers or {})["x-original-routing-key"] == "customer.delete"


async def test_queues_of_an_earlier_topology_are_drained_then_retired(
    settings: Settings,
) -> None:
    """Upgrading from one queue per command, and from more shards to fewer: the service
    unbinds the old queues, answers the commands still in them, and deletes each once empty.
    Nothing is moved or dropped."""
    from invoicebus.commands.app import create_app

    own = own_settings(settings, "retire", command_shards=2)
    old = Topology(own.prefix, command_shards=4)
    legacy = old.legacy_command_queue(Resource.ENTITY)
    arguments: dict[str, Any] = {"x-queue-type": "quorum", **old.command_arguments(10)}
    connection = await aio_pika.connect(own.amqp_url)
    async with connection, RawClient(own.amqp_url, own.prefix) as client:
        channel = await connection.channel()
        # The topology of before sharding: commands wait in <prefix>.entity.create.
        commands = await channel.declare_exchange(
            old.commands_exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await channel.declare_exchange(old.dead_letter_exchange, "topic", durable=True)
        for resource in (Resource.ENTITY, Resource.CUSTOMER):
            queue = await channel.declare_queue(
                old.legacy_command_queue(resource), durable=True, arguments=arguments
            )
            await queue.bind(commands, routing_key=resource.create_key)
        waiting = [
            await client.publish("commands", "entity.create", {"name": f"Old {i}"}, reply=True)
            for i in range(2)
        ]
        # Then four shards, and a service with two.
        await declare_topology(channel, old, delivery_limit=10)
        app = create_app(own)
        await app.start()
        try:
            replies = [await asyncio.wait_for(f, 30) for f in waiting if f is not None]
            assert [r.status for r in replies] == [201, 201]
        finally:
            await app.stop()
        # Unbound: a new command goes to the shards only.
        await client.publish("commands", "entity.create", {"name": "New"}, message_id="new")
        assert await peek_queue(own.amqp_url, legacy) == []
        assert await shard_of(own.amqp_url, own.topology, "new")

        async def exists(name: str) -> bool:
            try:
                await (await connection.channel()).declare_queue(name, passive=True)
            except ChannelNotFoundEntity:
                return False
            return True

        # Empty at start: deleted then. Still holding commands at start: drained, and deleted
        # at the next start.
        assert not await exists(old.legacy_command_queue(Resource.CUSTOMER))
        assert not await exists(old.command_shard_queue(2))
        assert not await exists(old.command_shard_queue(3))
        assert await exists(legacy)
        again = create_app(own)
        await again.start()
        await again.stop()
        assert not await exists(legacy)
        assert [await exists(name) for name in own.topology.command_queues] == [True, True]
        await delete_topology(await connection.channel(), old)


@pytest.fixture
async def flooded(settings: Settings) -> AsyncIterator[tuple[Settings, RawClient, list[str]]]:
    """A command service of its own, stopped, with entity A and candidates for B."""
    from invoicebus.commands.app import create_app

    own = own_settings(settings, "flood")
    connection = await aio_pika.connect(own.amqp_url)
    async with connection, RawClient(own.amqp_url, own.prefix) as client:
        await declare_topology(await connection.channel(), own.topology, delivery_limit=10)
        try:
            app = create_app(own)
            await app.start()
            try:
                ids = []
                for name in ("A", "B1", "B2", "B3", "B4"):
                    reply = await client.command("entity.create", {"name": f"Tenant {name}"})
                    assert reply.status == 201, reply.body
                    ids.append(reply.body["id"])
            finally:
                await app.stop()
            yield own, client, ids
        finally:
            await delete_topology(await connection.channel(), own.topology)


@pytest.mark.slow
async def test_one_tenants_flood_does_not_hold_up_another_tenant(
    flooded: tuple[Settings, RawClient, list[str]],
) -> None:
    """FLOOD customer.create of tenant A are queued before tenant B's one; B is answered while
    at least half of A's still wait (with one queue per command, B waited for all of them)."""
    from invoicebus.commands.app import create_app

    own, client, (a, *candidates) = flooded
    topology = own.topology
    # B: a tenant whose commands hash to another shard than A's (with 8 shards, 4
    # candidates all sharing A's shard has probability 1 in 4096).
    marks = {}
    for entity in (a, *candidates):
        marks[entity] = f"mark-{uuid.uuid4().hex}"
        await client.publish("commands", "customer.create", b"{}", entity_id=entity,
                             message_id=marks[entity])  # fmt: skip
    shards = {e: await shard_of(own.amqp_url, topology, m) for e, m in marks.items()}
    b = next(e for e in candidates if shards[e] != shards[a])
    connection = await aio_pika.connect(own.amqp_url)
    async with connection:
        channel = await connection.channel()
        for name in topology.command_queues:
            await (await channel.declare_queue(name, passive=True)).purge()

    sent = [
        client.publish("commands", "customer.create", {"name": f"A{i}"}, entity_id=a)
        for i in range(FLOOD)
    ]
    for start in range(0, FLOOD, 100):  # confirmed, in batches
        await asyncio.gather(*sent[start : start + 100])
    assert await queued(own.amqp_url, topology) == FLOOD

    assert own.mongodb_url
    mongo = connect(own.mongodb_url)
    app = create_app(own)
    await app.start()
    try:
        reply = await client.command("customer.create", {"name": "B"}, entity_id=b, timeout=120)
        customers = mongo[own.database]["customers"]
        done_by_then = await customers.count_documents({"entity_id": a})
        still_queued = await queued(own.amqp_url, topology)
    finally:
        await app.stop()
        await mongo.close()
    assert reply.status == 201, reply.body
    assert reply.body["entity_id"] == b
    assert done_by_then < FLOOD / 2, (done_by_then, still_queued)
    assert still_queued >= FLOOD / 2
