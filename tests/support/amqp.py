"""A raw AMQP client for tests: aio-pika and JSON only, no project code.

It plays the part of a client written in any language, so tests prove the wire contract
itself, not the project's own helpers. (``peek_queue`` only looks at what arrived; it browses
with the SDK's helper.)
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue

from invoicebus_client.deadletters import browse


@dataclass
class Reply:
    status: int
    body: Any
    message: AbstractIncomingMessage


class RawClient:
    def __init__(self, url: str, prefix: str, *, user_id: str | None = None) -> None:
        self.url = url
        self.prefix = prefix
        #: Sent as every message's user_id (RabbitMQ accepts only the connection's user).
        self.user_id = user_id
        self.connection: AbstractConnection | None = None
        self.channel: AbstractChannel | None = None
        self._futures: dict[str, asyncio.Future[Reply]] = {}

    async def __aenter__(self) -> RawClient:
        self.connection = await aio_pika.connect(self.url)
        self.channel = await self.connection.channel(publisher_confirms=True)
        # Direct reply-to: consume the pseudo-queue (no-ack) before publishing requests.
        reply_queue = await self.channel.get_queue("amq.rabbitmq.reply-to", ensure=False)
        await reply_queue.consume(self._on_reply, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.connection is not None
        await self.connection.close()

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._futures.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            status = int(str((message.headers or {}).get("x-status", 0)))
            future.set_result(Reply(status, json.loads(message.body), message))

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes | dict[str, Any],
        *,
        message_id: str | None = None,
        entity_id: str | None = None,
        reply: bool = False,
        correlation_id: str | None = None,
        headers: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
    ) -> asyncio.Future[Reply] | None:
        """Publish with the given properties; ``properties`` (aio-pika ``Message`` arguments)
        override the rest. With ``reply``, the future of the reply to ``correlation_id``."""
        assert self.channel is not None
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        all_headers = dict(headers or {})
        if entity_id:
            all_headers["x-entity-id"] = entity_id
        future: asyncio.Future[Reply] | None = None
        if reply:
            correlation_id = correlation_id or str(uuid.uuid4())
            future = self.expect_reply(correlation_id)
        exchange_obj = await self.channel.get_exchange(f"{self.prefix}.{exchange}", ensure=False)
        options: dict[str, Any] = {
            "content_type": "application/json",
            "delivery_mode": aio_pika.DeliveryMode.PERSISTENT,
            "message_id": message_id,
            "correlation_id": correlation_id,
            "reply_to": "amq.rabbitmq.reply-to" if reply else None,
            "headers": all_headers,
            "user_id": self.user_id,
        }
        await exchange_obj.publish(
            aio_pika.Message(raw, **(options | (properties or {}))), routing_key=routing_key
        )
        return future

    def expect_reply(self, correlation_id: str) -> asyncio.Future[Reply]:
        """The future of the reply with this ``correlation_id`` (ask before publishing)."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._futures[correlation_id] = future
        return future

    async def command(
        self, routing_key: str, body: bytes | dict[str, Any], *, timeout: float = 20, **kw: Any
    ) -> Reply:
        future = await self.publish("commands", routing_key, body, reply=True, **kw)
        assert future is not None
        return await asyncio.wait_for(future, timeout)

    async def query(
        self, routing_key: str, body: dict[str, Any] | bytes, *, timeout: float = 20, **kw: Any
    ) -> Reply:
        future = await self.publish("queries", routing_key, body, reply=True, **kw)
        assert future is not None
        return await asyncio.wait_for(future, timeout)

    async def subscribe(self, binding: str = "#") -> EventTap:
        """A private queue on the events exchange, like any subscriber would bind."""
        assert self.channel is not None
        queue = await self.channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(f"{self.prefix}.events", routing_key=binding)
        tap = EventTap(queue)
        await queue.consume(tap.on_message, no_ack=True)
        return tap


class EventTap:
    def __init__(self, queue: AbstractQueue) -> None:
        self.queue = queue
        self.messages: list[AbstractIncomingMessage] = []
        self._arrived = asyncio.Event()

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        self.messages.append(message)
        self._arrived.set()

    async def wait_for(self, predicate: Any, *, timeout: float = 20) -> AbstractIncomingMessage:
        """The first event (seen or to come) for which ``predicate(message)`` is true."""

        async def scan() -> AbstractIncomingMessage:
            seen = 0
            while True:
                for message in self.messages[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.messages)
                self._arrived.clear()
                await self._arrived.wait()

        return await asyncio.wait_for(scan(), timeout)

    def of_type(self, event_type: str) -> list[AbstractIncomingMessage]:
        return [m for m in self.messages if m.routing_key == event_type]


def body(message: AbstractIncomingMessage) -> Any:
    return json.loads(message.body)


async def peek_queue(
    url: str, queue_name: str, *, limit: int = 10_000
) -> list[AbstractIncomingMessage]:
    """Every message in a queue, left in place (fetched unacked; returned on channel close)."""
    connection = await aio_pika.connect(url)
    try:
        return await browse(await connection.channel(), queue_name, limit)
    finally:
        await connection.close()
