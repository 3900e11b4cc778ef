"""Costly list requests over the real broker and database (issue 9, item 3).

Tenant A stores customers whose every text field and metadata value is as long as the contract
allows, all ``a`` (metadata values are searched too, and 50 of them make a document as costly
to scan as six without, for a sixth of the time to store), and searches them for
``"a"*199 + "b"``: a search that scans every character of every field and matches nothing.
Each such search gets ``query_timeout`` (503) within the time budget, is never retried, and
while they run another tenant's list and command are answered. Timing is not asserted
(benchmarks/costly_lists.py measures it), only what each client gets, and in which order the
replies come.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import pytest

from invoicebus import metrics
from invoicebus.adapters.mongo.client import connect
from invoicebus.settings import Settings
from invoicebus_client.topology import declare_topology
from invoicebus_contracts import Customer, Resource, limits
from tests.support.amqp import RawClient, Reply
from tests.support.cleanup import remove_run
from tests.support.listing import customer, seed

SEARCH = {"search": "a" * (limits.SEARCH_MAX - 1) + "b", "limit": limits.LIST_LIMIT_MAX}
#: Enough to take SecantusDB a few times the budget to scan, however fast the machine.
ADVERSARIAL = 3000
TIME_LIMIT_MS = 3000
WAIT_LIMIT_MS = 10_000


@dataclass
class Tenants:
    client: RawClient
    a: str
    b: str


def adversarial(entity_id: str) -> Customer:
    text = "a" * limits.TEXT_MAX
    return customer(
        entity_id, "a" * limits.NAME_MAX, email="a" * (limits.EMAIL_MAX - 6) + "@a.aaa",
        address=text, address_2=text, city=text, state=text, country=text,
        post_code="a" * limits.POST_CODE_MAX, tax_number="a" * limits.TAX_NUMBER_MAX,
        metadata={f"k{i:02d}": "a" * limits.METADATA_VALUE_MAX
                  for i in range(limits.METADATA_MAX_KEYS)},
    )  # fmt: skip


@pytest.fixture(scope="module")
async def tenants(settings: Settings) -> AsyncIterator[Tenants]:
    """Both services with a topology, database and time budget of their own, and two tenants:
    A with the adversarial customers, B with a few ordinary ones."""
    from invoicebus.commands.app import create_app as create_commands
    from invoicebus.queries.app import create_app as create_queries

    prefix = f"ibcostly-{uuid.uuid4().hex[:8]}"
    own = Settings(
        **settings.model_dump()
        | {
            "prefix": prefix,
            "database": prefix.replace("-", "_"),
            "query_time_limit_ms": TIME_LIMIT_MS,
            "list_wait_limit_ms": WAIT_LIMIT_MS,
            # One list at a time in all: SecantusDB runs on one core, so a search that runs
            # beside B's list can slow it past any budget. With one slot, the turns decide:
            # B's list runs next after the search under way, alone, while A's others wait.
            "list_concurrency": 1,
            "list_concurrency_per_entity": 1,
        }
    )
    connection = await aio_pika.connect(own.amqp_url)
    async with connection:
        await declare_topology(await connection.channel(), own.topology, delivery_limit=10)
    apps = [create_commands(own), create_queries(own)]
    for app in apps:
        await app.start()
    assert own.mongodb_url
    mongo = connect(own.mongodb_url)
    try:
        async with RawClient(own.amqp_url, prefix) as client:
            ids = []
            for name in ("Tenant A", "Tenant B"):
                reply = await client.command("entity.create", {"name": name})
                assert reply.status == 201, reply.body
                ids.append(reply.body["id"])
            db = mongo[own.database]
            await seed(db, Resource.CUSTOMER, (adversarial(ids[0]) for _ in range(ADVERSARIAL)))
            await seed(db, Resource.CUSTOMER, (customer(ids[1], f"B{i}") for i in range(20)))
            yield Tenants(client, *ids)
    finally:
        for app in apps:
            await app.stop()
        await mongo.close()
        await remove_run(own.amqp_url, own.mongodb_url, prefix, own.database)


def timeouts(stage: str) -> float:
    return float(metrics.QUERY_TIMEOUTS.labels("customer.list", stage)._value.get())


async def test_costly_searches_time_out_and_another_tenant_is_answered_meanwhile(
    tenants: Tenants, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="invoicebus.queries")
    client = tenants.client
    database_before, waiting_before = timeouts("database"), timeouts("waiting")
    before = database_before + waiting_before
    arrived: list[str] = []

    async def ask(who: str, call: Any) -> Reply:
        reply: Reply = await call
        arrived.append(who)
        return reply

    searches = [
        asyncio.create_task(ask("A", client.query("customer.list", SEARCH, entity_id=tenants.a)))
        for _ in range(8)
    ]
    other_list = ask("B list", client.query("customer.list", {"limit": 10}, entity_id=tenants.b))
    other_create = ask(
        "B create", client.command("customer.create", {"name": "B new"}, entity_id=tenants.b)
    )
    listed, created = await asyncio.gather(other_list, other_create)
    answers = await asyncio.gather(*searches)

    # Tenant B was answered while A's searches were still running: its list waited for the
    # one search under way at most, not for A's others (A's turn comes after B's).
    assert listed.status == 200 and listed.body["pagination"]["total"] >= 20, listed.body
    assert created.status == 201, created.body
    assert arrived[: arrived.index("B list")].count("A") <= 1 and arrived[-1] == "A", arrived
    # Each search got query_timeout, with advice, once: no 500, no retry.
    for answer in answers:
        assert answer.status == 503, answer.body
        error = answer.body["error"]
        assert (error["code"], error["type"]) == ("query_timeout", "api_error")
        assert (
            f"time limit of {TIME_LIMIT_MS} ms" in error["message"]
            or f"wait limit of {WAIT_LIMIT_MS} ms" in error["message"]
        ), error
    assert timeouts("database") + timeouts("waiting") - before == 8
    assert timeouts("database") - database_before >= 1  # the one that ran, stopped by the DB
    assert timeouts("waiting") - waiting_before >= 1  # the others, which A's share held up
    assert not [r for r in caplog.records if "transient failure" in r.getMessage()]

    # The tenant is not locked out: a list the service can answer in time is answered.
    page = await client.query(
        "customer.list", {"limit": 5, "include_total_count": False}, entity_id=tenants.a
    )
    assert page.status == 200 and len(page.body["data"]) == 5, page.body
