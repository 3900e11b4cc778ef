"""Dead letters as they are read: why a message is there, and the message to send again.

A dead letter is the original message plus the reason: ``x-error-*`` headers when a service
refused it, the broker's ``x-death`` records when it dead-lettered the message itself (delivery
limit reached). A replay republishes the original without either, byte for byte otherwise (text
that is not UTF-8 included: see ``pamqp_patch``). What ``DeadLetter`` shows is text, with such
bytes escaped (``\xff``); ``--message-id`` picks a message by its id as shown. What the client
does with the queue (list, replay, discard) is ``dlq``'s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from invoicebus_contracts import CONTENT_TYPE, Header
from invoicebus_contracts.fields import format_timestamp

from .decoding import SHORT_STRING_PROPERTIES, json_or_text, jsonable, text

#: Headers the services and the broker add when they dead-letter a message; a replay drops them.
DEAD_LETTER_HEADERS = frozenset(
    {
        Header.ERROR_CODE.value,
        Header.ERROR_MESSAGE.value,
        Header.ERROR.value,
        Header.ORIGINAL_EXCHANGE.value,
        Header.ORIGINAL_ROUTING_KEY.value,
        Header.DEAD_LETTERED_AT.value,
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
        "x-delivery-count",
    }
)


@dataclass(frozen=True)
class DeadLetter:
    """One message in the dead-letter queue and why it is there."""

    message_id: str | None
    routing_key: str
    original_exchange: str | None
    original_routing_key: str | None
    error_code: str | None
    error_message: str | None
    #: The contract's error (``type``, ``code``, ``message``, ``errors``) as JSON.
    error: Any
    #: When it was refused, as the contract writes times (``2026-01-31T09:30:00.000Z``).
    dead_lettered_at: str | None
    #: The broker's ``x-death`` records (delivery limit exceeded, ...), JSON-friendly.
    death: list[dict[str, Any]]
    entity_id: str | None
    #: The AMQP properties it was sent with (``message_id`` aside), the ones that are set.
    properties: dict[str, str]
    #: Its headers, without those the dead-lettering added.
    headers: dict[str, Any]
    body: Any

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def origin(message: AbstractIncomingMessage) -> tuple[str | None, str | None]:
    """The exchange and routing key a dead letter was first sent to, as sent: a name that is
    not UTF-8 keeps its bytes as surrogate escapes, so a replay goes exactly there."""
    headers = message.headers or {}
    exchange = headers.get(Header.ORIGINAL_EXCHANGE.value)
    routing_key = headers.get(Header.ORIGINAL_ROUTING_KEY.value)
    deaths = headers.get("x-death")
    if routing_key is None and isinstance(deaths, list) and deaths:
        first = deaths[-1] if isinstance(deaths[-1], dict) else {}  # most recent death first
        exchange = first.get("exchange")
        keys = first.get("routing-keys")
        routing_key = keys[0] if isinstance(keys, list) and keys else None
    return _as_sent(exchange), _as_sent(routing_key)


def _as_sent(value: Any) -> str | None:
    # Long strings that are not UTF-8 arrive as bytes; pamqp_patch encodes escapes back to them.
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value if isinstance(value, str) else None


def dead_letter(message: AbstractIncomingMessage) -> DeadLetter:
    headers = dict(message.headers or {})
    deaths = headers.get("x-death")
    death = [jsonable(d) for d in deaths if isinstance(d, dict)] if isinstance(deaths, list) else []
    exchange, routing_key = origin(message)
    error_text = text(headers.get(Header.ERROR.value))
    return DeadLetter(
        message_id=text(message.message_id),
        routing_key=text(message.routing_key) or "",
        original_exchange=text(exchange),
        original_routing_key=text(routing_key),
        error_code=text(headers.get(Header.ERROR_CODE.value)),
        error_message=text(headers.get(Header.ERROR_MESSAGE.value)),
        error=_error(json_or_text(error_text.encode())) if error_text else None,
        dead_lettered_at=_timestamp(text(headers.get(Header.DEAD_LETTERED_AT.value))),
        death=death,
        entity_id=text(headers.get(Header.ENTITY_ID.value)),
        properties={
            name: shown
            for name in SHORT_STRING_PROPERTIES
            if name != "message_id" and (shown := text(getattr(message, name, None)))
        },
        headers=jsonable({k: v for k, v in headers.items() if k not in DEAD_LETTER_HEADERS}),
        body=json_or_text(message.body),
    )


def _error(value: Any) -> Any:
    """The error itself: ``x-error`` holds the whole error body, ``{"error": {...}}``."""
    if isinstance(value, dict) and set(value) == {"error"}:
        return value["error"]
    return value


def _timestamp(value: str | None) -> str | None:
    """The contract's time format; older services wrote ISO-8601 with ``+00:00``."""
    if value is None:
        return None
    try:
        return format_timestamp(datetime.fromisoformat(value))
    except ValueError:
        return value


def replay_message(message: AbstractIncomingMessage) -> aio_pika.Message:
    """The original command again: same id and body, no dead-letter headers, no stale
    ``reply_to`` (its requester is long gone)."""
    headers = {k: v for k, v in (message.headers or {}).items() if k not in DEAD_LETTER_HEADERS}
    return aio_pika.Message(
        message.body,
        content_type=message.content_type or CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        headers=headers,
    )


async def browse(
    channel: AbstractChannel, queue_name: str, limit: int
) -> list[AbstractIncomingMessage]:
    """Up to ``limit`` messages of a queue, left in it: they are fetched unacked and go back
    when the channel closes, so one channel sees each message once."""
    queue = await channel.get_queue(queue_name, ensure=False)
    messages: list[AbstractIncomingMessage] = []
    while len(messages) < limit:
        message = await queue.get(no_ack=False, fail=False, timeout=10)
        if message is None:
            break
        messages.append(message)
    return messages
