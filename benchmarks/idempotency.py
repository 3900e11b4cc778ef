"""Lookups by idempotency key as the collections grow (issue 9, item 8).

    python -m benchmarks.idempotency            # about a minute on an idle machine
    python -m benchmarks.idempotency --quick    # a smoke run; figures meaningless

On a fresh in-memory SecantusDB (or a fresh database on ``MONGODB_URL``), through the command
handlers and the MongoDB store the service uses, one command at a time:

1. keyed ``item.create`` (no taxes) with 0 items stored, then with ``--items`` keyed items;
2. a repeated keyed ``customer.create`` (the original's key and body) with ``--customers``
   keyed customers stored: each repeat is refused by the unique index and answered with the
   original, found by its key.

It prints each rate (commands/s). The broker is left out on purpose: what grows with the
collections is the database path. Nothing is asserted: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from invoicebus.access import Acting
from invoicebus.adapters.mongo import outbox
from invoicebus.adapters.mongo.client import connect
from invoicebus.adapters.mongo.store import MongoStore
from invoicebus.commands.catalog import create_item
from invoicebus.commands.context import CommandContext
from invoicebus.commands.handlers import create_customer
from invoicebus.domain import clock
from invoicebus.domain.ids import new_id
from invoicebus.tenancy import Caller
from invoicebus_contracts import CreateCustomer, CreateItem, Customer, Item, Resource

from .databases import fresh_database, server_description

ENTITY = "ent_000000000000000000000001"
ACTING = Acting(Caller(None, unrestricted=True), ENTITY)


def context(resource: Resource, command: Any, message_id: str) -> CommandContext:
    return CommandContext.of(resource, command, ACTING, message_id)


async def timed_rate(count: int, run: Any) -> float:
    started = time.perf_counter()
    for i in range(count):
        await run(i)
    return count / (time.perf_counter() - started)


async def keyed_items(store: MongoStore, count: int) -> float:
    async def one(i: int) -> None:
        command = CreateItem(name=f"bench {i}", price=Decimal(10))
        await create_item(command, context(Resource.ITEM, command, str(uuid.uuid4())), store)

    return await timed_rate(count, one)


async def seed_items(store: MongoStore, count: int) -> None:
    now = clock.now()
    docs = []
    for i in range(count):
        command = CreateItem(name=f"seed {i}", price=Decimal(1))
        ctx = context(Resource.ITEM, command, str(uuid.uuid4()))
        item = Item(
            id=new_id(Resource.ITEM), name=command.name, price=Decimal(1), gross_price=Decimal(1),
            total_tax=Decimal(0), description=None, tax_ids=[], unit=None, metadata={},
            entity_id=ENTITY, created_at=now, updated_at=now,
        )  # fmt: skip
        docs.append(outbox.document_of(ctx.record(Resource.ITEM, item), ctx.key))
    await store.db.items.insert_many(docs)


async def seed_customers(store: MongoStore, count: int) -> tuple[CreateCustomer, str]:
    """``count`` keyed customers; the command and key of one of them, to repeat."""
    now = clock.now()
    docs = []
    for i in range(count):
        command = CreateCustomer(name=f"seed {i}")
        ctx = context(Resource.CUSTOMER, command, f"seed-{i}")
        customer = Customer(
            id=new_id(Resource.CUSTOMER), entity_id=ENTITY, **command.model_dump(),
            created_at=now, updated_at=now,
        )  # fmt: skip
        docs.append(outbox.document_of(ctx.record(Resource.CUSTOMER, customer), ctx.key))
    await store.db.customers.insert_many(docs)
    middle = count // 2
    return CreateCustomer(name=f"seed {middle}"), f"seed-{middle}"


async def repeats(store: MongoStore, command: CreateCustomer, key: str, count: int) -> float:
    async def one(_: int) -> None:
        outcome = await create_customer(command, context(Resource.CUSTOMER, command, key), store)
        assert outcome.record.model.name == command.name

    return await timed_rate(count, one)


async def main(args: argparse.Namespace) -> None:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-idem-"))
    name = f"bench_idem_{uuid.uuid4().hex[:8]}"
    async with fresh_database(os.environ.get("MONGODB_URL"), name, log_dir) as database:
        client = connect(database.url)
        try:
            store = MongoStore(client[database.name])
            await store.ensure_indexes()
            print(f"server: {await server_description(database.url)}; load {os.getloadavg()}")
            rate0 = await keyed_items(store, args.commands)
            await seed_items(store, args.items)
            rate_n = await keyed_items(store, args.commands)
            print(f"keyed item.create, 0 items:     {rate0:8.1f}/s")
            print(f"keyed item.create, {args.items:,} items: {rate_n:8.1f}/s")
            command, key = await seed_customers(store, args.customers)
            rate_r = await repeats(store, command, key, args.commands)
            print(f"repeated customer.create, {args.customers:,} customers: {rate_r:8.1f}/s")
        finally:
            await client.close()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=200, help="commands per measurement")
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.commands, args.items, args.customers = 5, 20, 50
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
