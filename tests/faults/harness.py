"""The fault-injection harness: a real command service process, a confirmed publisher that
behaves like any careful client, an audit subscriber, and the reconciliation of what was sent
with what was stored and announced.

Only aio-pika, PyMongo and HTTP are used to observe the service, as an operator would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import aiormq.exceptions
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
)

from invoicebus.adapters.mongo.client import connect
from invoicebus.adapters.mongo.embedded import free_port
from invoicebus.adapters.mongo.outbox_batches import MARKERS
from invoicebus.querying.fields import Document
from invoicebus_client.topology import declare_topology
from invoicebus_contracts import Topology

COMMAND = "customer.create"
COLLECTION = "customers"
PUBLISH_ERRORS = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    TimeoutError,
)


# -- the service under test ------------------------------------------------------------------


@dataclass
class ServiceProcess:
    """``python -m invoicebus.commands`` (or another service module) as a child process with
    its own log file."""

    amqp_url: str
    mongodb_url: str
    prefix: str
    log_path: Path
    module: str = "invoicebus.commands"
    http_port: int = field(default_factory=free_port)
    transient_retry_seconds: float = 20
    extra_env: dict[str, str] = field(default_factory=dict)
    #: The interpreter (another virtualenv's, to run an installed wheel).
    python: str = sys.executable
    process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "AMQP_URL": self.amqp_url,
            "MONGODB_URL": self.mongodb_url,
            "INVOICEBUS_PREFIX": self.prefix,
            "INVOICEBUS_DATABASE": self.prefix.replace("-", "_"),
            "INVOICEBUS_COMMAND_HTTP_PORT": str(self.http_port),
            "INVOICEBUS_QUERY_HTTP_PORT": str(self.http_port),
            "INVOICEBUS_GATEWAY_PORT": str(self.http_port),
            "INVOICEBUS_RELAY_INTERVAL_SECONDS": "1",
            "INVOICEBUS_RELAY_GRACE_SECONDS": "2",
            "INVOICEBUS_TRANSIENT_RETRY_SECONDS": str(self.transient_retry_seconds),
            "INVOICEBUS_SHUTDOWN_TIMEOUT_SECONDS": "15",
            "INVOICEBUS_AUTH": "off",  # the scenarios' raw clients send no user_id
            **self.extra_env,
        }

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [self.python, "-m", self.module],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """kill -9: no shutdown at all, in-flight messages unacked, events maybe unsent."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and wait: the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def http(self, path: str) -> tuple[int, bytes]:
        """GET on the service's HTTP port: (status, body); (0, b"") when nothing answers."""
        try:
            url = f"http://127.0.0.1:{self.http_port}{path}"
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""

    async def readiness(self) -> int:
        status, _ = await asyncio.to_thread(self.http, "/readyz")
        return status

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while await self.readiness() != 200:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the service was not ready within {timeout}s")
            await asyncio.sleep(0.2)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


# -- a careful client ------------------------------------------------------------------------


class ConfirmedPublisher:
    """Publishes each command until the broker confirms it, reconnecting as needed.

    A publish whose confirm was lost may have reached the queue anyway; publishing it again
    (same message_id) is how at-least-once publishing works, and the service dedupes it.
    """

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self.connection: AbstractConnection | None = None
        self.exchange: AbstractExchange | None = None
        self.lock = asyncio.Lock()  # concurrent publishes share one connection
        self.retries = 0

    async def _connect(self) -> AbstractExchange:
        async with self.lock:
            if self.exchange is None:
                self.connection = await aio_pika.connect(self.url, timeout=5)
                channel = await self.connection.channel(publisher_confirms=True)
                self.exchange = await channel.get_exchange(f"{self.prefix}.commands", ensure=False)
            return self.exchange

    async def _drop(self, broken: AbstractExchange | None) -> None:
        """Forget the connection ``broken`` came from (unless another publish already did)."""
        async with self.lock:
            if broken is None or broken is not self.exchange:
                return
            connection, self.connection, self.exchange = self.connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 2)

    async def publish(
        self,
        routing_key: str,
        body: dict[str, Any],
        *,
        message_id: str,
        entity_id: str | None = None,
        deadline: float = 90,
    ) -> None:
        message = aio_pika.Message(
            json.dumps(body).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            headers={"x-entity-id": entity_id} if entity_id else {},
        )
        give_up = time.monotonic() + deadline
        while True:
            exchange: AbstractExchange | None = None
            try:
                exchange = await self._connect()
                await asyncio.wait_for(exchange.publish(message, routing_key, mandatory=True), 10)
                return
            except PUBLISH_ERRORS:
                if time.monotonic() > give_up:
                    raise
                self.retries += 1
                await self._drop(exchange)
                await asyncio.sleep(0.5)

    async def close(self) -> None:
        await self._drop(self.exchange)


# -- the broker side, observed ---------------------------------------------------------------


async def prepare_topology(url: str, prefix: str, delivery_limit: int = 10) -> None:
    """The contract's topology plus a durable audit queue bound to every event."""

    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await declare_topology(channel, Topology(prefix), delivery_limit=delivery_limit)
        audit = await channel.declare_queue(
            f"{prefix}.audit", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await audit.bind(f"{prefix}.events", routing_key="#")


async def queue_depth(url: str, name: str) -> int:
    """Ready messages in a queue (passive declare)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        return queue.declaration_result.message_count or 0


async def drain_queue(channel: AbstractChannel, name: str) -> list[AbstractIncomingMessage]:
    queue = await channel.get_queue(name, ensure=False)
    taken: list[AbstractIncomingMessage] = []
    while (message := await queue.get(no_ack=True, fail=False, timeout=5)) is not None:
        taken.append(message)
    return taken


# -- the run of one scenario -----------------------------------------------------------------


@dataclass
class Event:
    event_id: str
    correlation_id: str | None
    routing_key: str
    resource_id: str


@dataclass
class Report:
    scenario: str
    sent: int = 0
    confirmed: int = 0
    republished: int = 0
    stored: int = 0
    events: int = 0
    duplicate_events: int = 0
    dead_lettered: int = 0
    recovery_seconds: float | None = None
    notes: list[str] = field(default_factory=list)

    COLUMNS = (
        ("scenario", 28), ("sent", 5), ("confirmed", 9), ("publish retries", 15), ("stored", 6),
        ("events", 6), ("dup events", 10), ("dead-lettered", 13), ("recovery s", 10),
    )  # fmt: skip

    def row(self) -> str:
        recovery = "-" if self.recovery_seconds is None else f"{self.recovery_seconds:.1f}"
        values = (
            self.scenario, self.sent, self.confirmed, self.republished, self.stored,
            self.events, self.duplicate_events, self.dead_lettered, recovery,
        )  # fmt: skip
        return " | ".join(f"{v!s:>{w}}" for v, (_, w) in zip(values, self.COLUMNS, strict=True))

    @classmethod
    def header(cls) -> str:
        line = " | ".join(f"{name:>{w}}" for name, w in cls.COLUMNS)
        return f"{line}\n{'-' * len(line)}"


@dataclass
class Run:
    """One scenario: its own prefix and database on the private servers."""

    amqp_url: str
    mongodb_url: str
    prefix: str
    report: Report
    entity_id: str = ""
    sent_ids: list[str] = field(default_factory=list)
    confirmed_ids: set[str] = field(default_factory=set)
    heal_time: datetime | None = None

    @property
    def database(self) -> str:
        return self.prefix.replace("-", "_")

    def command_id(self, i: int) -> str:
        return f"{self.prefix}-cmd-{i:05d}"

    def body(self, i: int) -> dict[str, Any]:
        return {"name": f"Customer {i}", "metadata": {"seq": str(i)}}

    async def create_entity(self, publisher: ConfirmedPublisher, timeout: float = 60) -> None:
        await publisher.publish(
            "entity.create", {"name": "Fault Test Entity"}, message_id=f"{self.prefix}-entity"
        )
        client = connect(self.mongodb_url)
        try:
            deadline = time.monotonic() + timeout
            while (doc := await client[self.database].entities.find_one({})) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError("the entity was not created")
                await asyncio.sleep(0.2)
            self.entity_id = doc["_id"]
        finally:
            await client.close()

    async def send(
        self,
        publisher: ConfirmedPublisher,
        indexes: range,
        *,
        rate: float,
        window: int = 1,
        progress: asyncio.Event | None = None,
        progress_at: int = 0,
    ) -> None:
        """Publish commands ``indexes`` at about ``rate`` per second, each until confirmed,
        with up to ``window`` publishes awaiting their confirm at once."""
        slots = asyncio.Semaphore(window)

        async def one(i: int) -> None:
            message_id = self.command_id(i)
            try:
                await publisher.publish(
                    COMMAND, self.body(i), message_id=message_id, entity_id=self.entity_id
                )
            finally:
                slots.release()
            self.confirmed_ids.add(message_id)
            if progress is not None and len(self.confirmed_ids) >= progress_at:
                progress.set()

        tasks = []
        for i in indexes:
            if self.command_id(i) not in self.sent_ids:
                self.sent_ids.append(self.command_id(i))
            await slots.acquire()
            tasks.append(asyncio.create_task(one(i)))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)

    async def snapshot(self, label: str) -> None:
        """Note how far the service got at a moment of the scenario (the backlog it had)."""
        client = connect(self.mongodb_url)
        try:
            docs = client[self.database][COLLECTION]
            stored = await asyncio.wait_for(docs.count_documents({}), 5)
            pending = await asyncio.wait_for(docs.count_documents({"_pending": True}), 5)
            pending += await asyncio.wait_for(_in_open_batches(client[self.database]), 5)
            self.report.notes.append(
                f"{label}: {len(self.confirmed_ids)} confirmed, {stored} stored,"
                f" {pending} with event unsent"
            )
        except Exception as exc:
            self.report.notes.append(f"{label}: database not reachable ({exc!r})"[:200])
        finally:
            await client.close()

    def healed(self) -> None:
        self.heal_time = datetime.now(UTC)

    async def settle(self, timeout: float) -> dict[str, list[Document]]:
        """Wait until every confirmed command is stored and no event is left unsent; then
        the stored documents, by command id."""
        client = connect(self.mongodb_url)
        collection = client[self.database][COLLECTION]
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    docs = await collection.find({}).to_list()
                    unsent = sum(1 for d in docs if d.get("_pending"))
                    unsent += await _in_open_batches(client[self.database])
                    stored = {d.get("_idem", {}).get("key") for d in docs}
                    shards = Topology(self.prefix).command_queues
                    queued = sum([await queue_depth(self.amqp_url, q) for q in shards])
                    if self.confirmed_ids <= stored and unsent == 0 and queued == 0:
                        by_key: dict[str, list[Document]] = defaultdict(list)
                        for doc in docs:
                            by_key[doc.get("_idem", {}).get("key", "")].append(doc)
                        return by_key
                    missing = len(self.confirmed_ids - stored)
                except Exception as exc:  # a server may still be coming back
                    missing, unsent, queued = -1, -1, -1
                    self.report.notes.append(f"settle: {exc!r}"[:200])
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"not settled within {timeout}s: {missing} confirmed command(s) not"
                        f" stored, {unsent} event(s) unsent, {queued} command(s) queued"
                    )
                await asyncio.sleep(0.5)
        finally:
            await client.close()

    async def collect_events(
        self, expected: set[str], timeout: float, quiet: float = 2.0
    ) -> list[Event]:
        """Everything on the audit queue, until each of ``expected`` has its created event
        and no new event came for ``quiet`` seconds (the last deliveries are settling)."""
        connection = await aio_pika.connect(self.amqp_url)
        events: list[Event] = []
        deadline = time.monotonic() + timeout
        last_arrival = time.monotonic()
        async with connection:
            channel = await connection.channel()
            while True:
                arrived = await drain_queue(channel, f"{self.prefix}.audit")
                if arrived:
                    last_arrival = time.monotonic()
                for message in arrived:
                    body = json.loads(message.body)
                    events.append(
                        Event(
                            event_id=message.message_id or "",
                            correlation_id=message.correlation_id,
                            routing_key=message.routing_key or "",
                            resource_id=body.get("id", ""),
                        )
                    )
                created = {e.correlation_id for e in events if e.routing_key == "customer.created"}
                settled = expected <= created and time.monotonic() - last_arrival > quiet
                if settled or time.monotonic() > deadline:
                    return events
                await asyncio.sleep(0.5)

    async def reconcile(self, settle_timeout: float = 120) -> None:
        """Everything the scenario promises, asserted; the report filled in."""
        by_key = await self.settle(settle_timeout)
        events = await self.collect_events(self.confirmed_ids, timeout=30)
        created = [e for e in events if e.routing_key == "customer.created"]
        dead = await queue_depth(self.amqp_url, f"{self.prefix}.dead-letter")

        report = self.report
        report.sent = len(self.sent_ids)
        report.confirmed = len(self.confirmed_ids)
        report.stored = sum(len(docs) for key, docs in by_key.items() if key in self.sent_ids)
        report.events = len(created)
        per_command = Counter(e.correlation_id for e in created)
        report.duplicate_events = sum(n - 1 for n in per_command.values())
        report.dead_lettered = dead
        if self.heal_time is not None:
            after = [
                d["created_at"]
                for docs in by_key.values()
                for d in docs
                if d["created_at"] >= self.heal_time
            ]
            if after:
                report.recovery_seconds = (min(after) - self.heal_time).total_seconds()

        # Nothing lost: every confirmed command has exactly one document and an event.
        lost = sorted(self.confirmed_ids - by_key.keys())
        assert not lost, f"{len(lost)} confirmed command(s) without a document: {lost[:5]}"
        doubled = {k: len(v) for k, v in by_key.items() if len(v) > 1}
        assert not doubled, f"command ids with more than one document: {doubled}"
        strays = sorted(set(by_key) - set(self.sent_ids))
        assert not strays, f"documents no command asked for: {strays[:5]}"
        silent = sorted(self.confirmed_ids - per_command.keys())
        assert not silent, f"{len(silent)} stored command(s) without a created event: {silent[:5]}"
        # No event without a command; a repeated event is the same event (same id, resource).
        orphans = [e for e in created if e.correlation_id not in self.confirmed_ids]
        assert not orphans, f"created events no confirmed command explains: {orphans[:3]}"
        for key, docs in by_key.items():
            if key not in self.confirmed_ids:
                continue
            mine = [e for e in created if e.correlation_id == key]
            assert {e.event_id for e in mine} == {docs[0]["_event"]["id"]}, (key, mine)
            assert {e.resource_id for e in mine} == {docs[0]["_id"]}, (key, mine)
        assert dead == 0, f"{dead} message(s) dead-lettered; none of these commands is invalid"


async def _in_open_batches(db: Any) -> int:
    """The records named by batches whose events are not all confirmed yet (their markers):
    unsent too, as far as settling is concerned."""
    count = 0
    async for marker in db[MARKERS].find({}, {"records": 1}):
        count += sum(len(ids) for ids in marker["records"].values())
    return count
