"""An async client of the wire contract: aio-pika and the contract models, nothing else.

``InvoicebusClient`` is what the CLI runs on, and a small SDK for Python callers. It declares
the topology before its first publish (so a command sent before the services start waits in
its queue), publishes persistent messages with publisher confirms, and retries a publish the
broker did not confirm (connection lost, nack) with backoff. A command keeps one
``message_id`` across those retries, so a retry is idempotent on the service side.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
)
from aio_pika.exceptions import (
    AMQPConnectionError,
    ChannelInvalidStateError,
    ChannelPreconditionFailed,
    DeliveryError,
    PublishError,
)

from invoicebus_contracts import CONTENT_TYPE, DEFAULT_PREFIX, Header, Resource, Topology

from .adapters.rabbit.topology import declare_topology

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"
DEFAULT_TIMEOUT = 30.0
PUBLISH_ATTEMPTS = 4
BACKOFF_START = 0.5

#: Failures after which the same publish may succeed on a new connection.
RETRYABLE = (AMQPConnectionError, ConnectionError, ChannelInvalidStateError, DeliveryError)

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


class ClientError(Exception):
    """Base of every error the client raises."""


class ErrorReply(ClientError):
    """The service answered with an error status; ``body`` is the contract's error body."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        super().__init__(f"{status}: {message or body}")
        self.status = status
        self.body = body


class NoReply(ClientError):
    """No reply within the timeout (is the service running?)."""


class Unavailable(ClientError):
    """The broker could not be reached, or refused the topology or the message."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    #: The ``message_id`` of the request; reuse it to retry the same command idempotently.
    message_id: str


@dataclass(frozen=True)
class Event:
    type: str
    id: str | None
    entity_id: str | None
    correlation_id: str | None
    body: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "id": self.id,
            "entity_id": self.entity_id,
            "correlation_id": self.correlation_id,
            "body": self.body,
        }


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
        return {
            "message_id": self.message_id,
            "routing_key": self.routing_key,
            "original_exchange": self.original_exchange,
            "original_routing_key": self.original_routing_key,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "error": self.error,
            "dead_lettered_at": self.dead_lettered_at,
            "death": self.death,
            "entity_id": self.entity_id,
            "body": self.body,
        }


class InvoicebusClient:
    """``async with InvoicebusClient(url, prefix) as client: await client.create(...)``."""

    def __init__(
        self,
        amqp_url: str,
        prefix: str = DEFAULT_PREFIX,
        *,
        entity_id: str | None = None,
        delivery_limit: int = 10,
        publish_attempts: int = PUBLISH_ATTEMPTS,
    ) -> None:
        self.amqp_url = amqp_url
        self.topology = Topology(prefix)
        self.entity_id = entity_id
        #: Must match the services' setting: queues are declared with it as an argument.
        self.delivery_limit = delivery_limit
        self.publish_attempts = publish_attempts
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._declared = False
        self._replies: dict[str, asyncio.Future[AbstractIncomingMessage]] = {}

    async def __aenter__(self) -> Self:
        await self._ensure_channel()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and not connection.is_closed:
            await connection.close()

    # -- commands ----------------------------------------------------------------------------

    async def create(
        self,
        resource: Resource,
        body: Mapping[str, Any] | bytes,
        *,
        message_id: str | None = None,
        wait: bool = True,
        reply_timeout: float = DEFAULT_TIMEOUT,
    ) -> Reply:
        """Send ``<resource>.create``; with ``wait``, return the 201 reply or raise ``ErrorReply``.

        Without ``wait`` the reply is not asked for: the result is a ``Reply`` with status 202
        and no body once the broker has confirmed the command.
        """
        message_id = message_id or str(uuid.uuid4())
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        exchange, key = self.topology.commands_exchange, resource.create_key
        if not wait:
            await self._publish(exchange, key, self._message(raw, message_id, reply=False))
            return Reply(202, None, message_id)
        reply = await self._request(exchange, key, raw, message_id, reply_timeout=reply_timeout)
        if reply.status >= 300:
            raise ErrorReply(reply.status, reply.body)
        return reply

    # -- queries -----------------------------------------------------------------------------

    async def list(
        self,
        resource: Resource,
        request: Mapping[str, Any] | None = None,
        *,
        reply_timeout: float = DEFAULT_TIMEOUT,
    ) -> dict[str, Any]:
        """One page: ``{"data": [...], "pagination": {...}}``."""
        raw = json.dumps(dict(request or {})).encode()
        reply = await self._request(
            self.topology.queries_exchange,
            resource.list_key,
            raw,
            str(uuid.uuid4()),
            reply_timeout=reply_timeout,
            # A request nobody answered in time is useless later: let the broker drop it.
            expiration=reply_timeout,
        )
        if reply.status != 200:
            raise ErrorReply(reply.status, reply.body)
        page: dict[str, Any] = reply.body
        return page

    async def iterate_all(
        self,
        resource: Resource,
        request: Mapping[str, Any] | None = None,
        *,
        reply_timeout: float = DEFAULT_TIMEOUT,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every matching resource, following ``next_cursor`` page by page."""
        params = {k: v for k, v in (request or {}).items() if k != "prev_cursor"}
        while True:
            page = await self.list(resource, params, reply_timeout=reply_timeout)
            for item in page["data"]:
                yield item
            cursor = page["pagination"].get("next_cursor")
            if not cursor:
                return
            # Later pages need no count: it only costs the query service a second scan.
            params = {**params, "next_cursor": cursor, "include_total_count": False}

    # -- events ------------------------------------------------------------------------------

    async def tail(
        self, bindings: Iterable[str] = ("#",), *, on_ready: Callable[[], None] | None = None
    ) -> AsyncIterator[Event]:
        """Live events on a private, exclusive, auto-deleted queue, until the caller stops.

        ``on_ready`` is called once the queue is bound: events from then on are seen."""
        channel = await self._ensure_channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for binding in bindings:
            await queue.bind(self.topology.events_exchange, routing_key=binding)
        if on_ready is not None:
            on_ready()
        async with queue.iterator(no_ack=True) as messages:
            async for message in messages:
                headers = message.headers or {}
                yield Event(
                    type=_text(headers.get(Header.EVENT_TYPE.value)) or message.routing_key or "",
                    id=message.message_id,
                    entity_id=_text(headers.get(Header.ENTITY_ID.value)),
                    correlation_id=message.correlation_id,
                    body=_json_or_text(message.body),
                )

    # -- dead letters ------------------------------------------------------------------------

    async def dlq_list(self, limit: int = 1000) -> builtins.list[DeadLetter]:
        """Dead-lettered messages, left in the queue (fetched unacked, returned on close)."""
        connection = await self._ensure_connection()
        channel = await connection.channel()
        try:
            queue = await channel.get_queue(self.topology.dead_letter_queue, ensure=False)
            return [dead_letter(m) for m in await _fetch(queue, limit)]
        finally:
            await channel.close()

    async def dlq_replay(
        self, message_ids: Iterable[str] | None = None, *, limit: int = 1000
    ) -> builtins.list[DeadLetter]:
        """Republish chosen dead letters (all when ``message_ids`` is None) to where they were
        first sent, without the error headers; each leaves the queue only once the broker has
        confirmed its republished copy. Returns the replayed ones."""
        wanted = None if message_ids is None else set(message_ids)
        connection = await self._ensure_connection()
        channel = await connection.channel(publisher_confirms=True)
        replayed: builtins.list[DeadLetter] = []
        try:
            queue = await channel.get_queue(self.topology.dead_letter_queue, ensure=False)
            # Unchosen messages stay unacked until the channel closes, so each is seen once.
            for message in await _fetch(queue, limit):
                letter = dead_letter(message)
                if wanted is not None and letter.message_id not in wanted:
                    continue
                if letter.original_exchange is None or letter.original_routing_key is None:
                    continue
                exchange = await channel.get_exchange(letter.original_exchange, ensure=False)
                await exchange.publish(replay_message(message), letter.original_routing_key)
                await message.ack()
                replayed.append(letter)
        finally:
            await channel.close()
        return replayed

    # -- plumbing ----------------------------------------------------------------------------

    def _message(
        self,
        body: bytes,
        message_id: str,
        *,
        reply: bool,
        expiration: float | None = None,
    ) -> aio_pika.Message:
        headers: dict[str, Any] = {}
        if self.entity_id:
            headers[Header.ENTITY_ID.value] = self.entity_id
        return aio_pika.Message(
            body,
            content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            correlation_id=message_id if reply else None,
            reply_to=DIRECT_REPLY_TO if reply else None,
            headers=headers,
            expiration=expiration,
        )

    async def _ensure_connection(self) -> AbstractConnection:
        if self._connection is None or self._connection.is_closed:
            try:
                self._connection = await aio_pika.connect(self.amqp_url, timeout=10)
            except (OSError, AMQPConnectionError, TimeoutError) as exc:
                raise Unavailable(
                    f"cannot reach RabbitMQ at {redacted(self.amqp_url)}: {exc}"
                ) from exc
            self._channel = None
        return self._connection

    async def _ensure_channel(self) -> AbstractChannel:
        """The publishing channel: confirms on, topology declared, direct reply-to consumed."""
        connection = await self._ensure_connection()
        if self._channel is not None and not self._channel.is_closed:
            return self._channel
        channel = await connection.channel(publisher_confirms=True)
        if not self._declared:
            try:
                await declare_topology(channel, self.topology, delivery_limit=self.delivery_limit)
            except ChannelPreconditionFailed as exc:
                raise Unavailable(
                    f"the broker refused the topology of prefix {self.topology.prefix!r}: {exc}"
                    " (INVOICEBUS_DELIVERY_LIMIT must match the services')"
                ) from exc
            self._declared = True
        # Direct reply-to: the pseudo-queue must be consumed (no-ack) before requests go out.
        replies = await channel.get_queue(DIRECT_REPLY_TO, ensure=False)
        await replies.consume(self._on_reply, no_ack=True)
        self._channel = channel
        return channel

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._replies.get(message.correlation_id or "")
        if future is not None and not future.done():
            future.set_result(message)

    async def _reset(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with suppress(Exception):  # it is broken already; we only tidy up
                await connection.close()

    async def _publish(self, exchange: str, routing_key: str, message: aio_pika.Message) -> None:
        """Publish until the broker confirms it, reconnecting between attempts."""
        delay = BACKOFF_START
        for attempt in range(1, self.publish_attempts + 1):
            try:
                channel = await self._ensure_channel()
                target = await channel.get_exchange(exchange, ensure=False)
                await target.publish(message, routing_key, timeout=DEFAULT_TIMEOUT)
                return
            except PublishError as exc:  # returned: no queue bound for this routing key
                raise Unavailable(f"{routing_key!r} on {exchange!r} is not routable") from exc
            except (*RETRYABLE, Unavailable, TimeoutError) as exc:
                if attempt == self.publish_attempts:
                    if isinstance(exc, Unavailable):
                        raise
                    raise Unavailable(
                        f"publish not confirmed after {attempt} tries: {exc!r}"
                    ) from exc
                await self._reset()
                await asyncio.sleep(delay)
                delay *= 2

    async def _request(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        message_id: str,
        *,
        reply_timeout: float,
        expiration: float | None = None,
    ) -> Reply:
        """Publish with ``reply_to`` and wait for the reply; a connection lost while waiting
        resends the same message (same ``message_id``: idempotent)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + reply_timeout
        for attempt in range(1, self.publish_attempts + 1):
            future: asyncio.Future[AbstractIncomingMessage] = loop.create_future()
            self._replies[message_id] = future
            try:
                message = self._message(body, message_id, reply=True, expiration=expiration)
                await self._publish(exchange, routing_key, message)
                connection = await self._ensure_connection()
                lost: asyncio.Future[Any] = asyncio.ensure_future(connection.closed())
                try:
                    done, _ = await asyncio.wait(
                        [future, lost],
                        timeout=max(0.0, deadline - loop.time()),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    lost.cancel()
            finally:
                self._replies.pop(message_id, None)
            if future in done:
                reply = future.result()
                status = int(str((reply.headers or {}).get(Header.STATUS.value, 0)))
                return Reply(status, _json_or_text(reply.body), message_id)
            if not done:
                raise NoReply(
                    f"no reply to {routing_key} (message_id {message_id}) within"
                    f" {reply_timeout:g}s; is the service running?"
                )
            if attempt == self.publish_attempts:
                break
            await self._reset()
        raise Unavailable(f"connection lost while waiting for the reply to {message_id}")


async def _fetch(queue: AbstractQueue, limit: int) -> list[AbstractIncomingMessage]:
    messages: list[AbstractIncomingMessage] = []
    while len(messages) < limit:
        message = await queue.get(no_ack=False, fail=False, timeout=10)
        if message is None:
            break
        messages.append(message)
    return messages


def dead_letter(message: AbstractIncomingMessage) -> DeadLetter:
    headers = dict(message.headers or {})
    deaths = headers.get("x-death")
    death = (
        [_jsonable(d) for d in deaths if isinstance(d, dict)] if isinstance(deaths, list) else []
    )
    first = death[-1] if death else {}  # x-death lists the most recent death first
    exchange = _text(headers.get(Header.ORIGINAL_EXCHANGE.value))
    routing_key = _text(headers.get(Header.ORIGINAL_ROUTING_KEY.value))
    if routing_key is None and first:
        exchange = first.get("exchange")
        keys = first.get("routing-keys") or []
        routing_key = keys[0] if keys else None
    error_text = _text(headers.get(Header.ERROR.value))
    return DeadLetter(
        message_id=message.message_id,
        routing_key=message.routing_key or "",
        original_exchange=exchange,
        original_routing_key=routing_key,
        error_code=_text(headers.get(Header.ERROR_CODE.value)),
        error_message=_text(headers.get(Header.ERROR_MESSAGE.value)),
        error=_json_or_text(error_text.encode()) if error_text else None,
        dead_lettered_at=_text(headers.get(Header.DEAD_LETTERED_AT.value)),
        death=death,
        entity_id=_text(headers.get(Header.ENTITY_ID.value)),
        body=_json_or_text(message.body),
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


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _json_or_text(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def redacted(url: str) -> str:
    """The URL without its password, for error messages."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
