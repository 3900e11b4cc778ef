"""Replies of the query service are best effort, and a stalled consumer shows in /readyz
(issue 9, item 2, the read side), over the real broker and database.

A ``reply_to`` queue that refuses publishes (``x-max-length: 0``, ``x-overflow:
reject-publish``) used to make the service hold every request whose reply was refused, until
its prefetch window was full and ``customer.list`` answered nobody; ``/readyz`` said ready.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest

from invoicebus import metrics
from invoicebus.messaging import Delivery, Envelope
from invoicebus.queries.consumer import QueryConsumer
from invoicebus.runtime.http import HttpServer, Phase, health_app
from invoicebus.runtime.readiness import readiness
from invoicebus.settings import Settings
from invoicebus_client.topology import declare_topology
from invoicebus_contracts import Resource
from tests.support.amqp import RawClient
from tests.support.cleanup import remove_run

REQUESTS = 20


def undeliverable() -> float:
    return float(metrics.UNDELIVERABLE_REPLIES.labels("customer.list")._value.get())


@pytest.mark.usefixtures("command_service", "query_service")
async def test_a_reply_queue_that_refuses_publishes_wedges_nothing(
    settings: Settings, client: RawClient, entity: dict[str, Any]
) -> None:
    before = undeliverable()
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        refusing = await channel.declare_queue(
            f"ibtest-refusing-{uuid.uuid4().hex[:8]}",
            exclusive=True,
            arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
        )
        queries = await channel.get_exchange(f"{settings.prefix}.queries", ensure=False)
        for i in range(REQUESTS):  # more than the prefetch window of the customer.list queue
            await queries.publish(
                aio_pika.Message(
                    json.dumps({"limit": 1}).encode(),
                    content_type="application/json",
                    correlation_id=f"refused-{i}",
                    reply_to=refusing.name,
                    headers={"x-entity-id": entity["id"]},
                ),
                routing_key="customer.list",
            )
        # Every one was answered (the broker refused the answer) and settled: counted ...
        for _ in range(200):
            if undeliverable() - before >= REQUESTS:
                break
            await asyncio.sleep(0.1)
        assert undeliverable() - before == REQUESTS
        # ... and nothing holds the queue: the next client is answered, as are many at once.
        replies = await asyncio.gather(
            *(
                client.query("customer.list", {"limit": 1}, entity_id=entity["id"])
                for _ in range(20)
            )
        )
        assert {reply.status for reply in replies} == {200}
        declared = await channel.declare_queue(
            settings.topology.query_queue(Resource.CUSTOMER), passive=True
        )
        assert declared.declaration_result.message_count == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def stuck_service(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Any, asyncio.Event, str]]:
    """A query service of its own whose consumer settles nothing until the event is set, and
    its /readyz: the failure readiness must now see."""
    from invoicebus.queries.app import create_service

    prefix = f"ibstall-{uuid.uuid4().hex[:8]}"
    own = Settings(
        **settings.model_dump()
        | {"prefix": prefix, "database": prefix.replace("-", "_"), "prefetch": 1}
        | {"stall_seconds": 1.0}
    )
    release = asyncio.Event()
    handle = QueryConsumer.handle

    async def stuck(self: QueryConsumer, r: Resource, e: Envelope, delivery: Delivery) -> None:
        await release.wait()
        await handle(self, r, e, delivery)

    monkeypatch.setattr(QueryConsumer, "handle", stuck)
    connection = await aio_pika.connect(own.amqp_url)
    async with connection:
        await declare_topology(await connection.channel(), own.topology, delivery_limit=10)
    service = create_service(own)
    await service.app.start()
    connections = service.connections
    endpoints = health_app(
        connections.broker,
        readiness(connections.broker, connections.mongo),
        Phase(running=True),
        [],
        connections.progress,
    )
    http = HttpServer(endpoints, "127.0.0.1", free_port())
    await http.start()
    try:
        yield own, release, http.address
    finally:
        release.set()
        await http.stop()
        await service.app.stop()
        assert own.mongodb_url
        await remove_run(own.amqp_url, own.mongodb_url, prefix, own.database)


async def readyz(address: str) -> tuple[int, dict[str, Any]]:
    def get() -> tuple[int, dict[str, Any]]:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"{address}/readyz", timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    return await asyncio.to_thread(get)


async def until(address: str, status: int, timeout: float = 30) -> dict[str, Any]:
    for _ in range(int(timeout / 0.2)):
        got, body = await readyz(address)
        if got == status:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"/readyz answered {got} {body}, never {status}")


async def test_readyz_is_503_naming_the_queue_while_its_consumer_settles_nothing(
    stuck_service: tuple[Settings, asyncio.Event, str],
) -> None:
    own, release, address = stuck_service
    queue = own.topology.query_queue(Resource.CUSTOMER)
    assert (await readyz(address))[0] == 200  # nothing waits: idle is not stalled
    async with RawClient(own.amqp_url, own.prefix) as client:
        pending = [
            asyncio.create_task(client.query("customer.list", {}, timeout=60)) for _ in range(3)
        ]
        body = await until(address, 503)  # one held, two ready, none settled for 1 s
        assert body["progress"] is False and body["stalled_queues"] == [queue], body
        assert body["dependencies"] is True and body["consumers"] is True  # the rest is fine
        release.set()
        replies = await asyncio.gather(*pending)
        assert {reply.status for reply in replies} == {404}  # no entity yet: but answered
        body = await until(address, 200)
        assert body["progress"] is True and "stalled_queues" not in body
