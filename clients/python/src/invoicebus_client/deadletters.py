"""The dead-letter queue: reading why a message is there, and sending it where it first went.

A dead letter is the original message plus the reason: ``x-error-*`` headers when a service
refused it, the broker's ``x-death`` records when it dead-lettered the message itself (delivery
limit reached). A replay republishes the original without either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from invoicebus_contracts import CONTENT_TYPE, Header

from .decoding import json_or_text, jsonable, text

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
    error: Any
    dead_lettered_at: str | None
    #: The broker's ``x-death`` records (delivery limit exceeded, ...), JSON-friendly.
    death: list[dict[str, Any]]
    entity_id: str | None
    body: Any

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def dead_letter(message: AbstractIncomingMessage) -> DeadLetter:
    headers = dict(message.headers or {})
    deaths = headers.get("x-death")
    death = [jsonable(d) for d in deaths if isinstance(d, dict)] if isinstance(deaths, list) else []
    first = death[-1] if death else {}  # x-death lists the most recent death first
    exchange = text(headers.get(Header.ORIGINAL_EXCHANGE.value))
    routing_key = text(headers.get(Header.ORIGINAL_ROUTING_KEY.value))
    if routing_key is None and first:
        exchange = first.get("exchange")
        keys = first.get("routing-keys") or []
        routing_key = keys[0] if keys else None
    error_text = text(headers.get(Header.ERROR.value))
    return DeadLetter(
        message_id=message.message_id,
        routing_key=message.routing_key or "",
        original_exchange=exchange,
        original_routing_key=routing_key,
        error_code=text(headers.get(Header.ERROR_CODE.value)),
        error_message=text(headers.get(Header.ERROR_MESSAGE.value)),
        error=json_or_text(error_text.encode()) if error_text else None,
        dead_lettered_at=text(headers.get(Header.DEAD_LETTERED_AT.value)),
        death=death,
        entity_id=text(headers.get(Header.ENTITY_ID.value)),
        body=json_or_text(message.body),
    )


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


async def replay(
    channel: AbstractChannel, queue_name: str, message_ids: Iterable[str] | None, limit: int
) -> list[DeadLetter]:
    """Republish the chosen dead letters (all when ``message_ids`` is None) to where they
    were first sent; each leaves the queue only once its copy is confirmed (``channel`` must
    have publisher confirms on). Returns the replayed ones."""
    wanted = None if message_ids is None else set(message_ids)
    replayed: list[DeadLetter] = []
    # Unchosen messages stay unacked until the channel closes, so each is seen once.
    for message in await browse(channel, queue_name, limit):
        letter = dead_letter(message)
        if wanted is not None and letter.message_id not in wanted:
            continue
        if letter.original_exchange is None or letter.original_routing_key is None:
            continue
        exchange = await channel.get_exchange(letter.original_exchange, ensure=False)
        await exchange.publish(replay_message(message), letter.original_routing_key)
        await message.ack()
        replayed.append(letter)
    return replayed
