"""Turning FastStream's RabbitMQ messages into library-free envelopes and deliveries, and
subscribing to the contract's queues as ``Topology.declarations()`` describes them (FastStream
declares them too, so any other argument would be refused by the broker)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from aiormq.exceptions import ChannelInvalidStateError
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

from invoicebus_client.decoding import undecodable
from invoicebus_contracts import Declarations, Header

from ...messaging import Envelope


async def the_message(msg: RabbitMessage) -> RabbitMessage:
    """FastStream decoder that hands handlers the message itself: its untouched bytes (the
    contract decodes them) and its properties, without dependency injection (the broker runs
    with ``apply_types=False``: FastDepends resolved the message argument in a worker thread,
    a thread hop per message)."""
    return msg


#: The AMQP properties a dead-letter copy keeps as they came. Not app_id (the copy is the
#: service's publish) nor user_id (RabbitMQ checks it against the publishing user).
KEPT_PROPERTIES = ("content_type", "content_encoding", "type")


def envelope_from(msg: RabbitMessage) -> Envelope:
    # Read AMQP properties from the raw message: FastStream invents ids when they are absent,
    # and an invented message_id must not pass for a client's idempotency key.
    raw = msg.raw_message
    headers: dict[str, Any] = dict(raw.headers or {})
    entity = Header.ENTITY_ID.value
    return Envelope(
        routing_key=raw.routing_key or "",
        body=raw.body,
        message_id=raw.message_id or None,
        correlation_id=raw.correlation_id or None,
        reply_to=raw.reply_to or None,
        entity_id=header_text(headers[entity]) if entity in headers else None,
        headers=headers,
        exchange=raw.exchange or "",
        properties={
            name: value
            for name in KEPT_PROPERTIES
            if isinstance(value := getattr(raw, name, None), str) and value
        },
        undecodable=tuple(undecodable(raw)),
        user_id=raw.user_id or None,
    )


def header_text(value: Any) -> str:
    """A header value as text: a string as it is, anything else (an AMQP field-table value:
    a number, a boolean, an array, a table, void...) as a short description of what it was.

    Only an absent header is "no value": ``""``, ``0``, ``false`` or void are values, and
    whoever reads the text refuses it if it is not what the header must hold.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if value is None:
        return "<void>"
    if isinstance(value, bool):
        return f"<boolean {str(value).lower()}>"
    if isinstance(value, list | tuple):
        return "<array>"
    if isinstance(value, dict):
        return "<table>"
    return f"<{type(value).__name__} {str(value)[:40]}>"


class RabbitDelivery:
    """The ``messaging.Delivery`` of one FastStream message."""

    def __init__(self, msg: RabbitMessage) -> None:
        self.msg = msg

    @property
    def channel_closed(self) -> bool:
        try:
            self.msg.raw_message.channel  # noqa: B018 - raises once the channel is closed
        except ChannelInvalidStateError:
            return True
        return False

    async def ack(self) -> None:
        await self.msg.ack()

    async def nack(self, *, requeue: bool) -> None:
        await self.msg.nack(requeue=requeue)

    async def reject(self) -> None:
        await self.msg.reject(requeue=False)


def rabbit_queue(declarations: Declarations, name: str) -> RabbitQueue:
    """FastStream's description of a declared queue, with the routing key it is bound with."""
    queue = declarations.queue(name)
    # Passed as one table: RabbitQueue's overloads tie each queue type to literal arguments.
    # FastStream adds x-queue-type itself, from queue_type.
    options: dict[str, Any] = {
        "queue_type": QueueType(queue.queue_type.value),
        "durable": queue.durable,
        "arguments": dict(queue.arguments),
    }
    return RabbitQueue(queue.name, routing_key=declarations.binding(name).routing_key, **options)


def rabbit_exchange(declarations: Declarations, name: str) -> RabbitExchange:
    exchange = declarations.exchange(name)
    return RabbitExchange(
        exchange.name,
        type=ExchangeType(exchange.kind.value),
        durable=exchange.durable,
        arguments=dict(exchange.arguments),
    )


K = TypeVar("K")
#: Consumes one message of the queue named by ``K`` (a resource, or the replay's routing key).
Consume = Callable[[K, RabbitMessage], Awaitable[None]]


def subscribe_each(
    broker: RabbitBroker,
    declarations: Declarations,
    queues: Mapping[K, str],
    *,
    prefetch: int,
    consume: Consume[K],
    settled: Callable[[str], None] = lambda queue: None,
) -> None:
    """One subscriber per queue (by name, as ``declarations`` has it, bound to its exchange):
    raw bytes in, acks left to ``consume``, no automatic reply. ``settled(queue)`` is told of
    each message ``consume`` settled (acked, nacked or rejected): the consumer's progress.

    They share a channel whose prefetch window bounds the messages each consumer holds at once
    (RabbitMQ applies a non-global basic.qos per consumer, so every queue has its own window
    and a backlog in one never takes the slots of another); without one the broker pushes a
    whole backlog and every message is handled concurrently.
    """
    channel = Channel(prefetch_count=prefetch)
    for key, name in queues.items():
        source = declarations.binding(name).exchange
        _subscribe(
            broker,
            key,
            rabbit_queue(declarations, name),
            rabbit_exchange(declarations, source),
            channel=channel,
            consume=consume,
            settled=settled,
        )


def subscribe_existing(
    broker: RabbitBroker,
    queues: Mapping[K, str],
    *,
    prefetch: int,
    consume: Consume[K],
    settled: Callable[[str], None] = lambda queue: None,
) -> None:
    """Like ``subscribe_each`` for queues outside the contract that exist already (retired
    command queues being drained): neither declared nor bound, only consumed."""
    channel = Channel(prefetch_count=prefetch)
    for key, name in queues.items():
        queue = RabbitQueue(name, declare=False)
        _subscribe(broker, key, queue, None, channel=channel, consume=consume, settled=settled)


def _subscribe(
    broker: RabbitBroker,
    key: K,
    queue: RabbitQueue,
    exchange: RabbitExchange | None,
    *,
    channel: Channel,
    consume: Consume[K],
    settled: Callable[[str], None],
) -> None:
    @broker.subscriber(
        queue,
        exchange,
        channel=channel,
        ack_policy=AckPolicy.MANUAL,
        no_reply=True,
        decoder=the_message,
    )
    async def handle(msg: RabbitMessage) -> None:
        try:
            await consume(key, msg)
        finally:
            if msg.committed is not None:
                settled(queue.name)
