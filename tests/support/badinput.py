"""The running services the bad-input suite (tests/integration/test_bad_input.py) talks to, the
good requests sent alongside its hostile ones, and the figures it reports."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aio_pika

from invoicebus.runtime.service import Service
from invoicebus.runtime.watchdog import dead_consumers
from invoicebus.settings import Settings
from invoicebus_client.topology import declare_topology
from tests.support.amqp import RawClient, Reply
from tests.support.cleanup import remove_run

T = TypeVar("T")
ABSENT = object()  # no x-entity-id header at all
#: Good requests sent alongside the hostile ones: a list this often, a command every fifth.
PROBE_SECONDS = 0.25


@dataclass
class Figures:
    tried: int = 0
    server_errors: int = 0  # 500
    timeouts: int = 0  # 503 query_timeout (allowed; counted)
    dropped: int = 0  # no reply within the client's timeout
    refused_replies: int = 0  # commands and lists with a reply_to that refuses publishes
    good: dict[str, list[float]] = field(default_factory=lambda: {"list": [], "create": []})
    good_failures: int = 0

    def count(self, reply: Reply) -> None:
        self.server_errors += reply.status == 500
        self.timeouts += reply.status == 503


@dataclass
class Services:
    """Command and query services with a topology and database of their own."""

    loop: asyncio.AbstractEventLoop
    settings: Settings
    client: RawClient
    services: list[Service]
    refusing: str  # a reply queue that refuses every publish
    figures: Figures = field(default_factory=Figures)
    entity_id: str = ""
    cursor: str = ""  # a genuine next_cursor of the entity's customer list

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def ask(self, kind: str, routing_key: str, body: bytes, header: Any, **kw: Any) -> Reply:
        """One request and its reply, counted; a missing reply is counted, then fails."""
        headers = {} if header is ABSENT else {"x-entity-id": header}
        send = self.client.command if kind == "commands" else self.client.query
        self.figures.tried += 1
        try:
            reply = self.call(send(routing_key, body, headers=headers, **kw))
        except TimeoutError:
            self.figures.dropped += 1
            raise AssertionError(f"no reply to {routing_key} {body[:200]!r}") from None
        self.figures.count(reply)
        return reply

    def dead_letters(self) -> int:
        async def depth() -> int:
            connection = await aio_pika.connect(self.settings.amqp_url)
            async with connection:
                channel = await connection.channel()
                queue = await channel.declare_queue(
                    self.settings.topology.dead_letter_queue, passive=True
                )
                return queue.declaration_result.message_count or 0

        return self.call(depth())

    @property
    def apps(self) -> list[Any]:
        return [s.app for s in self.services]

    def consumers_alive(self) -> bool:
        brokers = [s.connections.broker for s in self.services]
        return all(not self.call(dead_consumers(broker)) for broker in brokers)

    def handler_exceptions(self) -> float:
        """Exceptions that escaped a message handler, as FastStream's middleware counts them."""
        return sum(
            sample.value
            for s in self.services
            for family in s.connections.broker_metrics.collect()
            for sample in family.samples
            if sample.name == "faststream_received_processed_messages_exceptions_total"
        )


async def probe(services: Services, stop: asyncio.Event) -> None:
    """Good requests alongside the hostile ones: their worst latency is one of the figures."""
    figures, client, beat = services.figures, services.client, 0
    while not stop.is_set():
        beat += 1
        kind = "create" if beat % 5 == 0 else "list"
        started = time.perf_counter()
        try:
            if kind == "create":
                # A message_id of its own: without one aiormq draws one from the random
                # module, which Hypothesis reseeds for every example, so ids would repeat.
                reply = await client.command(
                    "customer.create",
                    {"name": "Probe"},
                    entity_id=services.entity_id,
                    message_id=str(uuid.uuid4()),
                )
            else:
                reply = await client.query(
                    "customer.list", {"limit": 1}, entity_id=services.entity_id
                )
            ok = reply.status in (200, 201)
        except TimeoutError:
            ok = False
        figures.good[kind].append(time.perf_counter() - started)
        figures.good_failures += not ok
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PROBE_SECONDS)


def report(found: Services, crashes: float) -> str:
    f = found.figures
    worst = {kind: max(times, default=0.0) * 1000 for kind, times in f.good.items()}
    return (
        "bad-input suite figures: "
        f"inputs tried {f.tried}, crashes {crashes:g}, 500s {f.server_errors},"
        f" silent drops (no reply) {f.dropped}, query_timeout {f.timeouts},"
        f" commands and list requests replying into a refusing queue {f.refused_replies}"
        " (all settled);"
        f" concurrent good requests {sum(map(len, f.good.values()))}"
        f" ({f.good_failures} failed), worst latency list {worst['list']:.0f} ms,"
        f" create {worst['create']:.0f} ms"
    )


@contextmanager
def running(settings: Settings, say: Callable[[str], None]) -> Iterator[Services]:
    """Both services under a prefix and database of their own, in an event loop of their own
    (a background thread), with an entity, three customers, a genuine cursor, a reply queue
    that refuses publishes and the good requests going; ``say`` gets the figures at the end.
    Fails if a handler raised or a consumer is gone by then."""
    from invoicebus.commands.app import create_service as create_commands
    from invoicebus.queries.app import create_service as create_queries

    prefix = f"ibbad-{uuid.uuid4().hex[:8]}"
    # A new Settings, not model_copy: that would keep the cached topology of the old prefix.
    own = Settings(
        **settings.model_dump() | {"prefix": prefix, "database": prefix.replace("-", "_")}
    )
    assert own.topology.prefix == prefix
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bad-input-services", daemon=True)
    thread.start()

    def call(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(120)

    async def start() -> Services:
        connection = await aio_pika.connect(own.amqp_url)
        async with connection:
            await declare_topology(
                await connection.channel(), own.topology, delivery_limit=own.delivery_limit
            )
        started = [create_commands(own), create_queries(own)]
        for service in started:
            await service.app.start()
        client = RawClient(own.amqp_url, prefix)
        await client.__aenter__()
        assert client.channel is not None
        refusing = await client.channel.declare_queue(
            f"{prefix}-refusing",
            exclusive=True,
            arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
        )
        return Services(loop, own, client, started, refusing.name)

    async def stop(found: Services) -> None:
        await found.client.__aexit__()
        for service in found.services:
            await service.app.stop()
        assert own.mongodb_url
        await remove_run(own.amqp_url, own.mongodb_url, prefix, own.database)

    found = call(start())
    stopping = asyncio.Event()
    prober = None
    try:
        entity = found.call(found.client.command("entity.create", {"name": "Bad Input Entity"}))
        assert entity.status == 201, entity.body
        found.entity_id = entity.body["id"]
        for i in range(3):
            created = found.call(
                found.client.command(
                    "customer.create", {"name": f"Listed {i}"}, entity_id=found.entity_id
                )
            )
            assert created.status == 201, created.body
        first = found.call(
            found.client.query("customer.list", {"limit": 1}, entity_id=found.entity_id)
        )
        found.cursor = first.body["pagination"]["next_cursor"]
        prober = asyncio.run_coroutine_threadsafe(probe(found, stopping), loop)
        yield found
    finally:
        loop.call_soon_threadsafe(stopping.set)
        if prober is not None:
            prober.result(60)
        crashes = found.handler_exceptions() + (0 if found.consumers_alive() else 1)
        say(report(found, crashes))
        call(stop(found))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    assert crashes == 0
