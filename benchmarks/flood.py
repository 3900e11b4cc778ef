"""One tenant's flood of commands, and another tenant's command latency meanwhile (issue 9,
item 9).

    python -m benchmarks.flood                 # 20,000 commands: minutes on SecantusDB
    python -m benchmarks.flood --flood 2000    # smaller
    python -m benchmarks.flood --quick         # a smoke run; figures meaningless

It runs the command service as a process of its own (default settings, HTTP off) on a fresh
in-memory SecantusDB (or a fresh database on ``MONGODB_URL``) and RabbitMQ at ``AMQP_URL``,
under a topology prefix of its own, and creates tenant A and ``--tenants`` other tenants.

1. Idle: each other tenant sends one ``customer.create`` (publish to reply), one at a time.
2. The service stops; tenant A publishes ``--flood`` ``customer.create`` (confirmed, no
   reply asked); the service starts again, and the other tenants send ``--probes`` commands,
   one every ``--probe-interval`` seconds, round robin, while A's backlog drains.

It prints the other tenants' latencies (p50, p99, max) idle and during the flood, how many of
A's commands were still queued when the last probe was answered, and which other tenants'
commands share tenant A's shard (those wait behind its backlog: the fairness limit, 1/N).
Nothing is asserted: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from invoicebus_contracts import CONTENT_TYPE, Header, Topology

from .databases import fresh_database, server_description
from .load import percentile
from .processes import Server, server_environment

REPLY_TO = "amq.rabbitmq.reply-to"
#: A probe waits this long at most (with one queue per command type it waits for the flood).
PROBE_TIMEOUT_SECONDS = 1800.0


def command_queues(topology: Topology) -> tuple[str, ...]:
    """Where commands wait: the shard queues."""
    return topology.command_queues


class Client:
    """Publishes with confirms; replies by direct reply-to, matched on correlation_id."""

    def __init__(self, channel: AbstractChannel, topology: Topology) -> None:
        self.channel = channel
        self.topology = topology
        self.replies: dict[str, asyncio.Future[tuple[int, bytes]]] = {}

    async def start(self) -> None:
        queue = await self.channel.get_queue(REPLY_TO, ensure=False)
        await queue.consume(self.on_reply, no_ack=True)

    async def on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self.replies.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            status = int(str((message.headers or {}).get(Header.STATUS.value, 0)))
            future.set_result((status, message.body))

    async def publish(
        self, routing_key: str, body: dict[str, str], entity_id: str | None, *, reply: bool
    ) -> asyncio.Future[tuple[int, bytes]] | None:
        message_id = uuid.uuid4().hex
        future: asyncio.Future[tuple[int, bytes]] | None = None
        if reply:
            future = self.replies[message_id] = asyncio.get_running_loop().create_future()
        exchange = await self.channel.get_exchange(self.topology.commands_exchange, ensure=False)
        await exchange.publish(
            aio_pika.Message(
                json.dumps(body).encode(),
                content_type=CONTENT_TYPE,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message_id,
                correlation_id=message_id,
                reply_to=REPLY_TO if reply else None,
                headers={Header.ENTITY_ID.value: entity_id} if entity_id else {},
            ),
            routing_key,
        )
        return future

    async def command(
        self, routing_key: str, body: dict[str, str], entity_id: str | None
    ) -> tuple[int, bytes]:
        future = await self.publish(routing_key, body, entity_id, reply=True)
        assert future is not None
        return await asyncio.wait_for(future, PROBE_TIMEOUT_SECONDS)

    async def probe(self, entity_id: str) -> float:
        """One customer.create of ``entity_id``: seconds from publish to reply."""
        started = time.perf_counter()
        status, body = await self.command("customer.create", {"name": "probe"}, entity_id)
        assert status == 201, body
        return time.perf_counter() - started


async def queued(channel: AbstractChannel, topology: Topology) -> int:
    total = 0
    for name in command_queues(topology):
        declared = await channel.declare_queue(name, passive=True)
        total += declared.declaration_result.message_count or 0
    return total


async def shards_of(
    client: Client, channel: AbstractChannel, entities: list[str]
) -> dict[str, str]:
    """The queue each entity's commands wait in (nothing consumes them now): a marker each,
    found by browsing, then purged."""
    for entity in entities:
        await client.publish("customer.create", {"name": "mark"}, entity, reply=False)
    found: dict[str, str] = {}
    for name in command_queues(client.topology):
        queue = await channel.declare_queue(name, passive=True)
        while (message := await queue.get(fail=False)) is not None:
            found[str((message.headers or {})[Header.ENTITY_ID.value])] = name
            await message.ack()
    assert set(found) == set(entities), found
    return found


def row(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    if not ms:
        return f"| {name} | 0 | | | |"
    p50, p99 = percentile(ms, 50), percentile(ms, 99)
    return f"| {name} | {len(ms)} | {p50:.0f} | {p99:.0f} | {max(ms):.0f} |"


async def run(args: argparse.Namespace, work: Path) -> list[str]:
    amqp_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    topology = Topology(f"ibflood-{uuid.uuid4().hex[:6]}")
    load_before = os.getloadavg()
    connection = await aio_pika.connect(amqp_url)
    async with (
        connection,
        fresh_database(os.environ.get("MONGODB_URL") or None, topology.prefix, work) as db,
    ):
        channel = await connection.channel(publisher_confirms=True)
        client = Client(channel, topology)
        await client.start()
        env = server_environment(
            {
                "AMQP_URL": amqp_url,
                "MONGODB_URL": db.url,
                "INVOICEBUS_DATABASE": db.name,
                "INVOICEBUS_PREFIX": topology.prefix,
                "INVOICEBUS_COMMAND_HTTP_PORT": "0",
                # Fairness, not access control, is measured: the harness sends no user_id.
                "INVOICEBUS_AUTH": "off",
                **dict(setting.split("=", 1) for setting in args.setting),
            }
        )
        server = Server("invoicebus.commands", env, work / "commands.log")
        looking = await connection.channel()

        async def consuming() -> bool:
            try:
                declared = await looking.declare_queue(command_queues(topology)[0], passive=True)
            except aio_pika.exceptions.ChannelNotFoundEntity:
                await looking.reopen()
                return False
            return (declared.declaration_result.consumer_count or 0) > 0

        try:
            await server.start(consuming)
            entities = []
            for name in ["A"] + [f"T{i}" for i in range(args.tenants)]:
                status, body = await client.command("entity.create", {"name": name}, None)
                assert status == 201, body
                entities.append(str(json.loads(body)["id"]))
            a, others = entities[0], entities[1:]
            idle = [await client.probe(other) for other in others]
            engine = await server_description(db.url)
            await server.stop()

            shards = await shards_of(client, channel, entities)
            sharing = [e for e in others if shards[e] == shards[a]]
            started = time.perf_counter()
            for start in range(0, args.flood, 500):
                batch = range(start, min(start + 500, args.flood))
                await asyncio.gather(
                    *(
                        client.publish("customer.create", {"name": f"A{i}"}, a, reply=False)
                        for i in batch
                    )
                )
            confirmed = time.perf_counter() - started
            print(f"flood of {args.flood} confirmed in {confirmed:.1f} s", file=sys.stderr)

            await server.start(consuming)
            probes: list[asyncio.Task[float]] = []
            by_tenant: list[str] = []
            for i in range(args.probes):
                tenant = others[i % len(others)]
                by_tenant.append(tenant)
                probes.append(asyncio.create_task(client.probe(tenant)))
                await asyncio.sleep(args.probe_interval)
            latencies = await asyncio.gather(*probes)
            left = await queued(channel, topology)
        finally:
            await server.stop()
            cleanup = await connection.channel()
            for queue in topology.declarations().queues:
                await cleanup.queue_delete(queue.name)
            for exchange in topology.declarations().exchanges:
                await cleanup.exchange_delete(exchange.name)
    apart = [s for s, t in zip(latencies, by_tenant, strict=True) if t not in sharing]
    shared = [s for s, t in zip(latencies, by_tenant, strict=True) if t in sharing]
    return [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, {engine},"
        f" load average (1 min) {load_before[0]:.2f} at the start,"
        f" {os.getloadavg()[0]:.2f} at the end.",
        f"Tenant A's flood: {args.flood} customer.create, confirmed in {confirmed:.1f} s, queued"
        f" before the service started; {len(command_queues(topology))} command queue(s);"
        f" {args.probes} probes of {len(others)} other tenants, one every"
        f" {args.probe_interval} s; {len(sharing)} of those tenants share A's queue."
        f" {left} of A's commands still queued when the last probe was answered."
        f" Settings: {' '.join(args.setting) or 'the defaults'}.",
        "",
        "| other tenants' customer.create | probes | p50 ms | p99 ms | max ms |",
        "| --- | --- | --- | --- | --- |",
        row("idle", idle),
        row("during the flood, all", latencies),
        row("during the flood, tenants in another queue than A", apart),
        row("during the flood, tenants sharing A's queue", shared),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.flood", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--flood", type=int, default=20000)
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--probes", type=int, default=10)
    parser.add_argument("--probe-interval", type=float, default=2.0)
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="INVOICEBUS_NAME=VALUE",
        help="a setting of the command service (repeatable)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.flood, args.tenants, args.probes, args.probe_interval = 300, 3, 3, 0.5
    work = Path(tempfile.mkdtemp(prefix="invoicebus-flood-"))
    lines = asyncio.run(run(args, work))
    print("\n".join(lines))
    print(f"(server logs in {work})", file=sys.stderr)


if __name__ == "__main__":
    main()
