"""Costly list requests from one tenant, and what another tenant sees meanwhile (issue 9, item 3).

    python -m benchmarks.costly_lists            # the issue's sizes: about three minutes
    python -m benchmarks.costly_lists --quick    # a smoke run; figures meaningless

It runs the command and the query service as processes of their own (default settings, HTTP
off) on a fresh in-memory SecantusDB (or a fresh database on ``MONGODB_URL``) and RabbitMQ at
``AMQP_URL``, under a topology prefix of its own. Two entities: tenant A has ``--customers``
ordinary customers and ``--adversarial`` customers whose every text field is as long as the
contract allows, all ``a`` (stored directly, in the shape the command service stores them);
tenant B has ``--others`` customers.

1. Idle: tenant B sends ``customer.list {"limit": 10}`` and ``customer.create`` one at a time.
2. Attack: ``--attackers`` clients of tenant A each send ``{"search": "a"*199 + "b", "limit":
   100}`` again as soon as the previous one is answered, for ``--seconds``; tenant B does what
   it did when idle, at the same time.

It prints, for each phase, tenant B's latencies (publish to reply) and what the attackers got
(statuses and latencies). Nothing is asserted: the figures depend on the machine and its load.
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
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from invoicebus.adapters.mongo.client import collection, connect
from invoicebus.adapters.mongo.documents import to_document
from invoicebus.domain.ids import new_id
from invoicebus_contracts import Customer, Resource, Topology, limits

from .bus import Bus, Reply
from .databases import fresh_database, server_description
from .load import percentile
from .processes import Server, server_environment
from .workload import customer_body

SEARCH = "a" * (limits.SEARCH_MAX - 1) + "b"
ATTACK = json.dumps({"search": SEARCH, "limit": limits.LIST_LIMIT_MAX}).encode()
OTHER_LIST = json.dumps({"limit": 10}).encode()
#: A request unanswered for this long counts as lost (and ends its loop).
REPLY_TIMEOUT_SECONDS = 300.0


@dataclass
class Calls:
    """Latencies (seconds) and statuses of one kind of request."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    def row(self, name: str) -> str:
        ms = [s * 1000 for s in self.latencies]
        if not ms:
            return f"| {name} | 0 | | | | {dict(self.statuses)} |"
        p50, p99 = percentile(ms, 50), percentile(ms, 99)
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return f"| {name} | {len(ms)} | {p50:.0f} | {p99:.0f} | {max(ms):.0f} | {statuses} |"


def adversarial(entity_id: str, i: int) -> Customer:
    """A customer whose every text field is as long as the contract allows, all ``a``."""
    text = "a" * limits.TEXT_MAX
    now = datetime.now(UTC)
    return Customer(
        id=new_id(Resource.CUSTOMER),
        name="a" * limits.NAME_MAX,
        email="a" * (limits.EMAIL_MAX - 6) + "@a.aaa",
        address=text, address_2=text, city=text, state=text, country=text,
        post_code="a" * limits.POST_CODE_MAX, tax_number="a" * limits.TAX_NUMBER_MAX,
        country_code=None, entity_id=entity_id, metadata={}, created_at=now, updated_at=now,
    )  # fmt: skip


def ordinary(entity_id: str, i: int) -> Customer:
    now = datetime.now(UTC)
    fields = json.loads(customer_body(f"c{i}", i))
    return Customer(
        id=new_id(Resource.CUSTOMER), entity_id=entity_id, created_at=now, updated_at=now,
        **{"address_2": None, "state": None, **fields},
    )  # fmt: skip


async def store(url: str, database: str, customers: list[Customer]) -> None:
    client = connect(url)
    try:
        coll = collection(client[database], Resource.CUSTOMER)
        docs = [to_document(Resource.CUSTOMER, c) for c in customers]
        for start in range(0, len(docs), 500):
            await coll.insert_many(docs[start : start + 500], ordered=False)
    finally:
        await client.close()


class Tenant:
    def __init__(self, bus: Bus, entity_id: str) -> None:
        self.bus = bus
        self.entity_id = entity_id

    async def call(self, exchange: str, routing_key: str, body: bytes) -> Reply | None:
        _, reply = await asyncio.wait_for(
            self.bus.call(exchange, routing_key, body, entity_id=self.entity_id),
            REPLY_TIMEOUT_SECONDS,
        )
        return reply

    async def list(self, body: bytes = OTHER_LIST) -> Reply | None:
        return await self.call(self.bus.topology.queries_exchange, "customer.list", body)

    async def create(self) -> Reply | None:
        body = json.dumps({"name": f"Customer of B {uuid.uuid4().hex[:8]}"}).encode()
        return await self.call(self.bus.topology.commands_exchange, "customer.create", body)


async def timed(calls: Calls, request: Callable[[], Awaitable[Reply | None]]) -> bool:
    """One request into ``calls``; False when it got no reply in time."""
    started = time.perf_counter()
    try:
        reply = await request()
    except TimeoutError:
        calls.statuses["no reply"] += 1
        return False
    calls.latencies.append(time.perf_counter() - started)
    calls.statuses[str(reply.status if reply else "no reply")] += 1
    return True


async def loop(calls: Calls, request: Callable[[], Awaitable[Reply | None]], until: float) -> None:
    while time.monotonic() < until and await timed(calls, request):
        pass


async def phase(
    other: Tenant, attacker: Tenant | None, attackers: int, seconds: float
) -> dict[str, Calls]:
    """Tenant B's list and create loops (and the attackers, if any) for ``seconds``."""
    calls = {"B customer.list": Calls(), "B customer.create": Calls(), "A search": Calls()}
    until = time.monotonic() + seconds
    loops = []
    if attacker is not None:
        loops += [
            loop(calls["A search"], lambda: attacker.list(ATTACK), until) for _ in range(attackers)
        ]
        await asyncio.sleep(1.0)  # B starts while the searches run
    loops += [
        loop(calls["B customer.list"], other.list, until),
        loop(calls["B customer.create"], other.create, until),
    ]
    await asyncio.gather(*loops)
    return calls


async def consuming(bus: Bus, queue: str) -> bool:
    return await bus.consumers(queue) > 0


async def run(args: argparse.Namespace, work: Path) -> list[str]:
    amqp_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    topology = Topology(f"ibcostly-{uuid.uuid4().hex[:6]}")
    database = topology.prefix.replace("-", "_")
    async with (
        Bus(amqp_url, topology, events=(Resource.CUSTOMER,)) as bus,
        fresh_database(os.environ.get("MONGODB_URL") or None, database, work) as db,
    ):
        env = server_environment(
            {
                "AMQP_URL": amqp_url,
                "MONGODB_URL": db.url,
                "INVOICEBUS_DATABASE": db.name,
                "INVOICEBUS_PREFIX": topology.prefix,
                "INVOICEBUS_COMMAND_HTTP_PORT": "0",
                "INVOICEBUS_QUERY_HTTP_PORT": "0",
                **dict(setting.split("=", 1) for setting in args.setting),
            }
        )
        servers = [
            Server(module, env, work / f"{module}.log")
            for module in ("invoicebus.commands", "invoicebus.queries")
        ]
        try:
            await servers[0].start(lambda: consuming(bus, topology.command_shard_queue(0)))
            await servers[1].start(lambda: consuming(bus, topology.query_queue(Resource.CUSTOMER)))
            await bus.watch()
            tenants = []
            for name in ("A", "B"):
                _, reply = await bus.call(
                    topology.commands_exchange,
                    Resource.ENTITY.create_key,
                    json.dumps({"name": f"Tenant {name}"}).encode(),
                    entity_id=None,
                )
                assert reply is not None, "no reply to entity.create"
                assert reply.status == 201, reply
                tenants.append(Tenant(bus, json.loads(reply.body)["id"]))
            a, b = tenants
            await store(
                db.url,
                db.name,
                [ordinary(a.entity_id, i) for i in range(args.customers)]
                + [adversarial(a.entity_id, i) for i in range(args.adversarial)]
                + [ordinary(b.entity_id, i) for i in range(args.others)],
            )
            engine = await server_description(db.url)
            print(f"stored the customers; {engine}", file=sys.stderr)
            idle = await phase(b, None, 0, args.idle_seconds)
            print("idle phase done; attacking", file=sys.stderr)
            attack = await phase(b, a, args.attackers, args.seconds)
        finally:
            for server in servers:
                await server.stop()
            await bus.delete_topology()
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, {engine},"
        f" load average (1 min) {os.getloadavg()[0]:.2f} at the end.",
        f"Tenant A: {args.customers} customers and {args.adversarial} adversarial ones;"
        f" tenant B: {args.others}. Attack: {args.attackers} clients of A, each sending"
        f' `{{"search": "a"*199 + "b", "limit": 100}}` in a loop for {args.seconds} s.'
        f" Settings: {' '.join(args.setting) or 'the defaults'}.",
        "",
        "| phase, request | answered | p50 ms | p99 ms | max ms | statuses |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, calls in (("idle", idle), ("attack", attack)):
        lines += [
            c.row(f"{label}, {name}") for name, c in calls.items() if c.latencies or c.statuses
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.costly_lists", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--adversarial", type=int, default=1000)
    parser.add_argument("--others", type=int, default=500)
    parser.add_argument("--attackers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="INVOICEBUS_NAME=VALUE",
        help="a setting of both services (repeatable); the default is the services' own",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.customers, args.adversarial, args.others = 50, 10, 10
        args.seconds, args.idle_seconds = 5.0, 2.0
    work = Path(tempfile.mkdtemp(prefix="invoicebus-costly-"))
    lines = asyncio.run(run(args, work))
    print("\n".join(lines))
    print(f"(server logs in {work})", file=sys.stderr)


if __name__ == "__main__":
    main()
