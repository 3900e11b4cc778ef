"""Turning FastStream's RabbitMQ messages into library-free envelopes, and queue descriptions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from faststream import AckPolicy
from faststream.rabbit import (
    Channel,
    ExchangeType,
    QueueType,
    RabbitBroker,
    RabbitExchange,
    RabbitMessage,
    RabbitQueue,
)

from invoicebus_contracts import Header, Resource

from .messenger import Envelope


async def raw_body(msg: RabbitMessage) -> bytes:
    """FastStream decoder that hands handlers the untouched bytes; the contract decodes them."""
    body: bytes = msg.body
    return body


def envelope_from(msg: RabbitMessage) -> Envelope:
    # Read AMQP properties from the raw message: FastStream invents ids when they are absent,
    # and an invented message_id must not pass for a client's idempotency key.
    raw = msg.raw_message
    headers: dict[str, Any] = dict(raw.headers or {})
    entity = headers.get(Header.ENTITY_ID.value)
    if isinstance(entity, bytes):
        entity = entity.decode("utf-8", "replace")
    return Envelope(
        routing_key=raw.routing_key or "",
        body=raw.body,
        message_id=raw.message_id or None,
        correlation_id=raw.correlation_id or None,
        reply_to=raw.reply_to or None,
        entity_id=str(entity) if entity else None,
        headers=headers,
        exchange=raw.exchange or "",
    )


def quorum_queue(name: str, routing_key: str, arguments: dict[str, Any]) -> RabbitQueue:
    args: Any = {k: v for k, v in arguments.items() if k != "x-queue-type"}
    return RabbitQueue(
        name, queue_type=QueueType.QUORUM, durable=True, arguments=args, routing_key=routing_key
    )


def exchange(name: str, kind: ExchangeType) -> RabbitExchange:
    return RabbitExchange(name, type=kind, durable=True)


Consume = Callable[[Resource, RabbitMessage], Awaitable[None]]


def subscribe_each(
    broker: RabbitBroker,
    source: RabbitExchange,
    queues: Mapping[Resource, RabbitQueue],
    *,
    prefetch: int,
    consume: Consume,
) -> None:
    """One subscriber per queue: raw bytes in, acks left to ``consume``, no automatic reply.

    They share a channel whose prefetch window bounds the messages each consumer holds at once;
    without one the broker pushes a whole backlog and every message is handled concurrently.
    """
    channel = Channel(prefetch_count=prefetch)

    def bind(resource: Resource, queue: RabbitQueue) -> None:
        @broker.subscriber(
            queue,
            source,
            channel=channel,
            ack_policy=AckPolicy.MANUAL,
            no_reply=True,
            decoder=raw_body,
        )
        async def handle(body: bytes, msg: RabbitMessage) -> None:
            await consume(resource, msg)

    for resource, queue in queues.items():
        bind(resource, queue)
