"""The services as real processes: health, readiness and metrics over HTTP, readiness through a
database outage, SIGTERM while a command waits one out, and the consumer watchdog.

Each test has its own topology prefix and database; the ones that stop the database run
their own SecantusDB. The shared RabbitMQ is never restarted.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from invoicebus import metrics
from invoicebus.adapters.mongo.client import connect
from invoicebus.adapters.mongo.embedded import EmbeddedMongo
from invoicebus.runtime.watchdog import consumer_alive, dead_consumers, subscribers, watch_consumers
from invoicebus.settings import Settings
from invoicebus_client.topology import declare_topology, delete_topology
from invoicebus_contracts import Topology
from tests.faults.harness import ServiceProcess, queue_depth
from tests.support.amqp import RawClient, peek_queue
from tests.support.backends import Backends

DELIVERY_LIMIT = 10


@pytest.fixture
async def prefix(servers: Backends, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A topology of this test's own on the shared broker, deleted afterwards; the delivery
    limit of its command queues can be given by indirect parametrization."""
    limit = getattr(request, "param", DELIVERY_LIMIT)
    name = f"ibrel-{uuid.uuid4().hex[:8]}"
    settings = Settings(amqp_url=servers.amqp_url, prefix=name)
    connection = await aio_pika.connect(servers.amqp_url)
    async with connection:
        await declare_topology(await connection.channel(), settings.topology, delivery_limit=limit)
        yield name
        await delete_topology(await connection.channel(), settings.topology)


@pytest.fixture
def own_mongo(tmp_path: Path) -> Any:
    server = EmbeddedMongo(tmp_path / "db", log_path=tmp_path / "secantus.log")
    server.start()
    yield server
    server.stop()


def metric(text: bytes, name: str, **labels: str) -> float | None:
    """The value of one Prometheus sample, if present."""
    for line in text.decode().splitlines():
        found = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if found and all(f'{k}="{v}"' in found.group(1) for k, v in labels.items()):
            return float(found.group(2))
    return None


async def wait_status(service: ServiceProcess, path: str, status: int, timeout: float = 30) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got, body = await asyncio.to_thread(service.http, path)
        if got == status:
            return json.loads(body) if path == "/readyz" else body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} answered {got} {body!r}, not {status}")
        await asyncio.sleep(0.2)


async def test_both_services_serve_health_readiness_and_metrics(
    servers: Backends, prefix: str, own_mongo: EmbeddedMongo, tmp_path: Path
) -> None:
    services = [
        ServiceProcess(servers.amqp_url, own_mongo.url, prefix, tmp_path / f"{m}.log", module=m)
        for m in ("invoicebus.commands", "invoicebus.queries")
    ]
    for service in services:
        service.start()
    try:
        for service in services:
            await service.wait_ready(90)
            assert await wait_status(service, "/healthz", 200) == b"ok\n"
            assert await wait_status(service, "/readyz", 200) == {
                "ready": True, "running": True, "dependencies": True, "consumers": True,
                "progress": True,
            }  # fmt: skip

        async with RawClient(servers.amqp_url, prefix) as client:
            entity = await client.command("entity.create", {"name": "Metered"})
            created = await client.command(
                "customer.create", {"name": "Counted"}, entity_id=entity.body["id"]
            )
            listed = await client.query("customer.list", {}, entity_id=entity.body["id"])
        assert (created.status, listed.status) == (201, 200)

        commands, queries = services
        _, text = await asyncio.to_thread(commands.http, "/metrics")
        assert metric(text, "invoicebus_commands_total", command="customer.create") == 1
        handled = metric(
            text,
            "faststream_received_processed_messages_total",
            handler=f"{prefix}.commands.customer.create",
            status="acked",
        )
        assert handled == 1, text.decode()
        _, text = await asyncio.to_thread(queries.http, "/metrics")
        received = metric(
            text, "faststream_received_messages_total", handler=f"{prefix}.queries.customer.list"
        )
        assert received == 1, text.decode()

        # Database away: both stay alive but say they are not ready, then recover.
        await asyncio.to_thread(own_mongo.stop)
        for service in services:
            state = await wait_status(service, "/readyz", 503)
            assert state["dependencies"] is False and state["running"] is True
            assert await wait_status(service, "/healthz", 200) == b"ok\n"
        await asyncio.to_thread(own_mongo.start)
        for service in services:
            await wait_status(service, "/readyz", 200, timeout=60)
    finally:
        codes = [await asyncio.to_thread(service.terminate) for service in services]
    assert codes == [0, 0], [s.log_text()[-3000:] for s in services]


async def test_sigterm_hands_back_a_command_that_is_waiting_out_an_outage(
    servers: Backends, prefix: str, own_mongo: EmbeddedMongo, tmp_path: Path
) -> None:
    service = ServiceProcess(
        servers.amqp_url,
        own_mongo.url,
        prefix,
        tmp_path / "commands.log",
        transient_retry_seconds=600,  # it would wait 10 minutes if SIGTERM did not end it
    )
    service.start()
    await service.wait_ready(90)
    message_id = str(uuid.uuid4())
    try:
        await asyncio.to_thread(own_mongo.stop)
        async with RawClient(servers.amqp_url, prefix) as client:
            await client.publish(
                "commands", "entity.create", {"name": "Patient"}, message_id=message_id
            )
        for _ in range(200):  # until the service is retrying it
            _, text = await asyncio.to_thread(service.http, "/metrics")
            if metric(text, "invoicebus_transient_failures_total", stage="command"):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the command never reached the service")
        exit_code = await asyncio.to_thread(service.terminate, 30)
        assert exit_code == 0
        # Not acked, not dead-lettered: back in its shard.
        assert await commands_queued(servers.amqp_url, prefix) == 1
        assert await queue_depth(servers.amqp_url, f"{prefix}.dead-letter") == 0

        await asyncio.to_thread(own_mongo.start)
        service.start()
        await service.wait_ready(90)
        mongo = connect(own_mongo.url)
        try:
            entities = mongo[prefix.replace("-", "_")].entities
            for _ in range(100):
                if await entities.count_documents({"_idem.key": message_id}) == 1:
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("the handed-back command was never processed")
        finally:
            await mongo.close()
        assert await commands_queued(servers.amqp_url, prefix) == 0
    finally:
        await asyncio.to_thread(service.terminate)


async def test_watchdog_restores_a_consumer_lost_while_the_connection_stayed_up(
    servers: Backends, prefix: str, settings: Settings
) -> None:
    """FastStream #2758: the queue exists, the connection is fine, but nothing consumes."""
    from invoicebus.commands.app import create_app

    # A new Settings, not model_copy: that would keep the cached topology of the old prefix.
    own = Settings(
        **settings.model_dump() | {"prefix": prefix, "database": prefix.replace("-", "_")}
    )
    assert own.topology.prefix == prefix
    app = create_app(own)
    await app.start()
    broker: Any = app.broker
    try:
        # entity.create (no x-entity-id) waits in one shard, which one depends on the ring:
        # lose every shard's consumer.
        shards = own.topology.command_queues
        lost = [s for s in subscribers(broker) if s.queue.name in shards]
        assert len(lost) == len(shards)
        restarts = {q: metrics.CONSUMER_RESTARTS.labels(q)._value.get() for q in shards}
        for subscriber in lost:
            assert await consumer_alive(subscriber)
            # Lose the consumer below aio-pika's robust layer, which then never restores it.
            queue = subscriber._queue_obj
            assert queue is not None and subscriber._consumer_tag
            channel = await queue.channel.get_underlay_channel()
            await channel.basic_cancel(subscriber._consumer_tag)
        assert sorted(await dead_consumers(broker)) == sorted(shards)

        async with RawClient(servers.amqp_url, prefix) as client:
            pending = await client.publish(
                "commands", "entity.create", {"name": "Waiting"}, reply=True
            )
            assert pending is not None
            done, _ = await asyncio.wait([pending], timeout=2)
            assert not done  # nobody consumes it: the symptom

            watchdog = asyncio.create_task(watch_consumers(broker, interval=0.3, strikes=2))
            try:
                reply = await asyncio.wait_for(pending, 30)
                # The other shards' consumers come back too, each in its turn.
                for _ in range(300):
                    if not await dead_consumers(broker):
                        break
                    await asyncio.sleep(0.1)
            finally:
                watchdog.cancel()
        assert reply.status == 201
        assert await dead_consumers(broker) == []
        after = {q: metrics.CONSUMER_RESTARTS.labels(q)._value.get() for q in shards}
        # At least once each (a restart that times out on a loaded broker is tried again).
        assert all(after[q] > n for q, n in restarts.items()), (restarts, after)
    finally:
        await app.stop()
        assert own.mongodb_url
        mongo = connect(own.mongodb_url)
        await mongo.drop_database(own.database)
        await mongo.close()


@pytest.mark.parametrize("prefix", [2], indirect=True, ids=["delivery_limit=2"])
async def test_an_outage_longer_than_the_retry_window_ends_in_the_dead_letter_queue(
    servers: Backends, prefix: str, own_mongo: EmbeddedMongo, tmp_path: Path
) -> None:
    """transient_retry_seconds per delivery, delivery_limit + 1 deliveries: then the broker
    dead-letters the command (at-least-once), never earlier and never silently."""
    service = ServiceProcess(
        servers.amqp_url,
        own_mongo.url,
        prefix,
        tmp_path / "commands.log",
        transient_retry_seconds=1,
        extra_env={"INVOICEBUS_DELIVERY_LIMIT": "2"},
    )
    service.start()
    await service.wait_ready(90)
    message_id = str(uuid.uuid4())
    try:
        await asyncio.to_thread(own_mongo.stop)
        async with RawClient(servers.amqp_url, prefix) as client:
            await client.publish(
                "commands", "entity.create", {"name": "Unlucky"}, message_id=message_id
            )
        for _ in range(600):
            if await queue_depth(servers.amqp_url, f"{prefix}.dead-letter"):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the command never reached the dead-letter queue")
        _, text = await asyncio.to_thread(service.http, "/metrics")
        requeued = metric(
            text, "invoicebus_requeued_total", queue="entity.create", reason="retry_window"
        )
        assert requeued == 3  # the first delivery and two redeliveries, each waited out
        [dead] = await peek_queue(servers.amqp_url, f"{prefix}.dead-letter")
        assert dead.message_id == message_id
        assert dead.headers["x-first-death-reason"] == "delivery_limit"
        assert dead.headers["x-first-death-queue"] in Topology(prefix).command_queues
        assert await commands_queued(servers.amqp_url, prefix) == 0
    finally:
        await asyncio.to_thread(service.terminate)


async def commands_queued(url: str, prefix: str) -> int:
    """Commands waiting in the command shards of ``prefix``."""
    return sum([await queue_depth(url, queue) for queue in Topology(prefix).command_queues])


async def test_a_service_that_cannot_reach_its_database_at_start_exits_1(
    servers: Backends, prefix: str, tmp_path: Path
) -> None:
    """Left to its supervisor to restart, with a one-line reason rather than a traceback."""
    service = ServiceProcess(
        servers.amqp_url,
        "mongodb://127.0.0.1:1/?directConnection=true",  # nothing listens there
        prefix,
        tmp_path / "commands.log",
    )
    service.start()
    assert service.process is not None
    assert await asyncio.to_thread(service.process.wait, 60) == 1
    log = service.log_text()
    assert "cannot start: RabbitMQ or the database is unreachable" in log
    assert "Traceback" not in log
