"""Turning FastStream's RabbitMQ messages into library-free envelopes, and queue descriptions."""

from __future__ import annotations

from typing import Any

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitMessage, RabbitQueue

from invoicebus_contracts import Header

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
