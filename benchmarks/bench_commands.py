"""Command throughput with and without an idempotency key (``message_id``).

    python benchmarks/bench_commands.py [--commands 500] [--repeat 3] [--window 64]

Runs the command service as a real process (``python -m invoicebus.commands``) against
``AMQP_URL`` (default: RabbitMQ on localhost) with a topology prefix of its own, and
``MONGODB_URL`` or a SecantusDB it starts in a temporary directory. Each round publishes N
``customer.create`` commands (persistent, with publisher confirms, up to ``--window``
unconfirmed at once) and measures the time until all N are processed: stored, with their
``created`` event published and marked sent. Rounds with a key (a unique ``message_id`` per
command, so a unique-index entry per document) and without one alternate, so both see the
same database size. It prints the median commands/s of each and the ratio. Nothing is
asserted: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika

from invoicebus.adapters.mongo.client import connect
from invoicebus.adapters.mongo.embedded import EmbeddedMongo
from invoicebus.adapters.rabbit.topology import declare_topology, delete_topology
from invoicebus_contracts import Topology

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


async def publish(url: str, prefix: str, bodies: list[tuple[bytes, str | None]], entity: str,
                  window: int) -> None:  # fmt: skip
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(f"{prefix}.commands", ensure=False)
        slots = asyncio.Semaphore(window)

        async def one(body: bytes, message_id: str | None) -> None:
            async with slots:
                await exchange.publish(
                    aio_pika.Message(
                        body,
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=message_id,
                        headers={"x-entity-id": entity},
                    ),
                    "customer.create",
                )

        await asyncio.gather(*(one(body, mid) for body, mid in bodies))


async def processed(mongodb_url: str, database: str, run: str, n: int) -> None:
    """Until all ``n`` commands of ``run`` are stored with their event sent."""
    client = connect(mongodb_url)
    try:
        customers = client[database].customers
        query = {"metadata.run": run, "_pending": False}
        while True:
            if await customers.count_documents(query) >= n:
                return
            await asyncio.sleep(0.02)
    finally:
        await client.close()


async def one_round(
    args: argparse.Namespace, env: dict[str, str], entity: str, keyed: bool
) -> float:
    run = uuid.uuid4().hex[:12]
    bodies = [
        (
            json.dumps({"name": f"Bench {i}", "metadata": {"run": run}}).encode(),
            f"{run}-{i}" if keyed else None,
        )
        for i in range(args.commands)
    ]
    start = time.perf_counter()
    await publish(AMQP_URL, env["INVOICEBUS_PREFIX"], bodies, entity, args.window)
    await processed(env["MONGODB_URL"], env["INVOICEBUS_DATABASE"], run, args.commands)
    commands: int = args.commands
    return commands / (time.perf_counter() - start)


async def entity_of(env: dict[str, str]) -> str:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(f"{env['INVOICEBUS_PREFIX']}.commands", ensure=False)
        await exchange.publish(aio_pika.Message(b'{"name": "Bench Entity"}'), "entity.create")
    client = connect(env["MONGODB_URL"])
    try:
        while True:
            if doc := await client[env["INVOICEBUS_DATABASE"]].entities.find_one({}):
                return str(doc["_id"])
            await asyncio.sleep(0.1)
    finally:
        await client.close()


async def main(args: argparse.Namespace, mongodb_url: str) -> None:
    prefix = f"ibbench-{uuid.uuid4().hex[:6]}"
    topology = Topology(prefix)
    connection = await aio_pika.connect(AMQP_URL)
    await declare_topology(await connection.channel(), topology, delivery_limit=10)
    env = {
        **os.environ,
        "AMQP_URL": AMQP_URL,
        "MONGODB_URL": mongodb_url,
        "INVOICEBUS_PREFIX": prefix,
        "INVOICEBUS_DATABASE": prefix.replace("-", "_"),
        "INVOICEBUS_COMMAND_HTTP_PORT": "0",
    }
    service = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "invoicebus.commands",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        entity = await asyncio.wait_for(entity_of(env), 120)
        await one_round(args, env, entity, keyed=True)  # warm-up, not counted
        rates: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.repeat):
            for keyed in (False, True):
                rates[keyed].append(await one_round(args, env, entity, keyed))
        without, with_key = statistics.median(rates[False]), statistics.median(rates[True])
        print(f"commands per round: {args.commands}, rounds: {args.repeat}, window: {args.window}")
        print(f"without message_id: {without:8.1f} commands/s (median)")
        print(f"with message_id:    {with_key:8.1f} commands/s (median)")
        print(f"ratio with/without: {with_key / without:8.2f}")
    finally:
        service.terminate()
        await asyncio.wait_for(service.wait(), 60)
        await delete_topology(await connection.channel(), topology)
        client = connect(mongodb_url)
        await client.drop_database(env["INVOICEBUS_DATABASE"])
        await client.close()
        await connection.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--window", type=int, default=64)
    arguments = parser.parse_args()
    if url := os.environ.get("MONGODB_URL"):
        asyncio.run(main(arguments, url))
    else:
        with tempfile.TemporaryDirectory(prefix="invoicebus-bench-") as tmp:
            server = EmbeddedMongo(Path(tmp) / "db", log_path=Path(tmp) / "secantus.log")
            server.start()
            try:
                asyncio.run(main(arguments, server.url))
            finally:
                server.stop()
