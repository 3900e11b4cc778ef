"""The harness's side of the wire: commands and list requests sent as any client sends them,
and the replies and events that come back, matched to their requests and timed.

Everything here is the wire contract only (names from ``invoicebus_contracts``): persistent
messages published with confirms to the commands or queries exchange, replies by direct
reply-to (matched on ``correlation_id``), and ``created`` events from a private queue bound
to the events exchange. Events are matched on a tag the harness puts in each command's
``metadata`` (it comes back in the event's body), so matching works with or without a
``message_id`` and for every server alike.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
)
from aio_pika.exceptions import ChannelNotFoundEntity

from invoicebus_contracts import CONTENT_TYPE, Header, Resource, Topology

REPLY_TO = "amq.rabbitmq.reply-to"
#: The ``metadata`` key that carries the harness's tag of a command.
TAG = "bench"
#: A call that gets no answer within this long fails the run (a server is stuck or wrong).
CALL_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Timing:
    """``time.perf_counter()`` marks of one call."""

    started: float  # the publish began
    seen: float  # its outcome was first seen: the created event, or else the reply
    done: float  # everything awaited had arrived (the event and, where awaited, the reply)

    @property
    def latency(self) -> float:
        return self.done - self.started


@dataclass(frozen=True)
class Reply:
    at: float
    status: int
    body: bytes


class Bus:
    """One connection to the broker under ``topology``; ``async with Bus(...) as bus``."""

    def __init__(self, url: str, topology: Topology, events: tuple[Resource, ...]) -> None:
        self.url = url
        self.topology = topology
        self.events = events
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._replies: dict[str, asyncio.Future[Reply]] = {}
        self._events: dict[str, asyncio.Future[float]] = {}

    async def __aenter__(self) -> Bus:
        self._connection = await aio_pika.connect(self.url)
        channel = self._channel = await self._connection.channel(publisher_confirms=True)
        # Direct reply-to: consume the pseudo-queue before the first request.
        replies = await channel.get_queue(REPLY_TO, ensure=False)
        await replies.consume(self._on_reply, no_ack=True)
        return self

    async def watch(self) -> None:
        """Start receiving the ``created`` events; the topology must exist by now."""
        events = await self.channel.declare_queue(exclusive=True, auto_delete=True)
        for resource in self.events:
            await events.bind(self.topology.events_exchange, resource.created_key)
        await events.consume(self._on_event, no_ack=True)
        for name in (self.topology.commands_exchange, self.topology.queries_exchange):
            self._exchanges[name] = await self.channel.get_exchange(name, ensure=False)

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()

    @property
    def channel(self) -> AbstractChannel:
        assert self._channel is not None, "use Bus in an async with block"
        return self._channel

    def broker_version(self) -> str:
        assert self._connection is not None
        assert self._connection.transport is not None
        properties: dict[str, Any] = dict(self._connection.transport.connection.server_properties)
        product, version = properties.get("product", b"?"), properties.get("version", b"?")
        return " ".join(p.decode() if isinstance(p, bytes) else str(p) for p in (product, version))

    async def consumers(self, queue: str) -> int:
        """How many consumers the queue has; 0 while it does not exist yet."""
        assert self._connection is not None
        # A passive declaration of a missing queue closes its channel: use one of its own.
        channel = await self._connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except ChannelNotFoundEntity:
            return 0
        finally:
            if not channel.is_closed:
                await channel.close()
        return declared.declaration_result.consumer_count or 0

    async def delete_topology(self) -> None:
        """Remove every queue and exchange of the contract under this prefix."""
        assert self._connection is not None
        # A channel of its own: the main one may have been closed by the error that ends a run.
        channel = await self._connection.channel()
        declared = self.topology.declarations()  # the contract's list of what exists
        for queue in declared.queues:
            await channel.queue_delete(queue.name)
        for exchange in declared.exchanges:
            await channel.exchange_delete(exchange.name)
        await channel.close()

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._replies.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            status = int(str((message.headers or {}).get(Header.STATUS.value, 0)))
            future.set_result(Reply(time.perf_counter(), status, message.body))

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        at = time.perf_counter()
        try:
            tag = json.loads(message.body)["metadata"][TAG]
        except (ValueError, KeyError, TypeError):
            return  # not one of the harness's commands
        future = self._events.pop(tag, None)
        if future is not None and not future.done():
            future.set_result(at)

    async def call(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        entity_id: str | None,
        event_tag: str | None = None,
        await_reply: bool = True,
        keyed: bool = True,
    ) -> tuple[Timing, Reply | None]:
        """Publish one message (confirmed) and wait for its event (when ``event_tag`` is given)
        and its reply (when ``await_reply``). ``keyed``: send a ``message_id`` (for commands,
        the idempotency key)."""
        assert await_reply or event_tag is not None, "a call must wait for something"
        loop = asyncio.get_running_loop()
        correlation_id = uuid.uuid4().hex
        reply: asyncio.Future[Reply] | None = None
        event: asyncio.Future[float] | None = None
        if await_reply:
            reply = self._replies[correlation_id] = loop.create_future()
        if event_tag is not None:
            event = self._events[event_tag] = loop.create_future()
        started = time.perf_counter()
        await self._exchanges[exchange].publish(
            aio_pika.Message(
                body,
                content_type=CONTENT_TYPE,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=correlation_id if keyed else None,
                correlation_id=correlation_id,
                reply_to=REPLY_TO,
                headers={Header.ENTITY_ID.value: entity_id} if entity_id else {},
            ),
            routing_key,
        )
        try:
            async with asyncio.timeout(CALL_TIMEOUT_SECONDS):
                got_reply = await reply if reply is not None else None
                event_at = await event if event is not None else None
        except TimeoutError:
            missing = "reply" if reply is not None and not reply.done() else "event"
            raise TimeoutError(
                f"no {missing} for {routing_key} within {CALL_TIMEOUT_SECONDS:.0f}s"
            ) from None
        finally:
            self._replies.pop(correlation_id, None)
            if event_tag is not None:
                self._events.pop(event_tag, None)
        marks = [m for m in (event_at, got_reply.at if got_reply else None) if m is not None]
        seen = event_at if event_at is not None else max(marks)
        return Timing(started, seen, max(marks)), got_reply
