"""One connection to the broker, as the client uses it, safe for many concurrent callers: a
publishing channel (confirms on, returns raised, direct reply-to consumed), confirmed
publishing with retries, and request/reply matched by correlation id.

Before the first publish the contract's exchanges are checked passively (or, with
``declare``, the whole topology is declared): a mistyped prefix fails at once instead of
publishing into exchanges nobody consumes. Commands are published ``mandatory``, so one that
no queue takes comes back and is an error, never a silent drop.

Retries use tenacity: a publish the broker did not confirm (connection lost, nack, timeout) is
sent again on a new connection with exponential backoff; a request whose connection closed
while it waited for the reply is sent again at once. Either way the message keeps its
``message_id``, so the service counts it once. Each request has a correlation id of its own,
so any number of requests, even several with one ``message_id``, can wait at once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from aio_pika.exceptions import (
    AMQPConnectionError,
    ChannelClosed,
    ChannelInvalidStateError,
    ChannelNotFoundEntity,
    ChannelPreconditionFailed,
    DeliveryError,
    PublishError,
)
from aiormq.exceptions import ChannelAccessRefused
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_none,
)

from invoicebus_contracts import Header, Topology

from .connecting import connect
from .defaults import BACKOFF_START, DEFAULT_TIMEOUT
from .errors import BrokerRefused, ClientError, NoReply, Unavailable
from .topology import check_topology, declare_topology
from .tracing import Tracing

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"

#: Failures after which the same publish may succeed on a new connection.
RETRYABLE = (AMQPConnectionError, ConnectionError, ChannelInvalidStateError, DeliveryError)
T = TypeVar("T")


@dataclass(frozen=True)
class RawReply:
    """A reply as it came: its ``x-status`` and its body, undecoded."""

    status: int
    body: bytes


class _ConnectionLost(Exception):
    """The connection closed while a request waited for its reply."""


def _worth_another_try(exc: BaseException) -> bool:
    # A returned message (no queue bound to its routing key) would only be returned again, and
    # a broker that refused credentials or an exchange will refuse them again.
    if isinstance(exc, PublishError | BrokerRefused):
        return False
    return isinstance(exc, (*RETRYABLE, Unavailable, TimeoutError))


async def retried(
    step: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    worth_it: Callable[[BaseException], bool],
    backoff: float | None,
) -> T:
    """``step()``, tried up to ``attempts`` times while it fails in a way ``worth_it``, waiting
    ``backoff`` seconds, then twice that, and so on (none when None) between tries.

    The first try runs bare: thousands of publishes a second (an import) should not each pay
    for the retry machinery; tenacity takes over only once a try has failed."""
    try:
        return await step()
    except Exception as exc:
        if attempts <= 1 or not worth_it(exc):
            raise
    if backoff is not None:
        await asyncio.sleep(backoff)
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts - 1),
        wait=wait_none() if backoff is None else wait_exponential(multiplier=backoff * 2),
        retry=retry_if_exception(worth_it),
        reraise=True,
    )

    async def again() -> T:  # a coroutine function, so tenacity awaits what step() returns
        return await step()

    return await retrying.wraps(again)()


def correlation_id() -> str:
    """A fresh correlation id: each request waits for the reply that carries its own."""
    return uuid.uuid4().hex


class Transport:
    def __init__(
        self,
        amqp_url: str,
        topology: Topology,
        *,
        declare: bool,
        delivery_limit: int,
        publish_attempts: int,
        tracing: Tracing,
    ) -> None:
        self.amqp_url = amqp_url
        self.tracing = tracing
        self.topology = topology
        #: Declare the topology (True) or only check that its exchanges exist (False).
        self.declare = declare
        #: Must match the services' setting when declaring: queues carry it as an argument.
        self.delivery_limit = delivery_limit
        self.publish_attempts = publish_attempts
        # One at a time opens the connection and the publishing channel; everyone shares them.
        self._lock = asyncio.Lock()
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._checked = False
        self._closing = False
        self._replies: dict[str, asyncio.Future[AbstractIncomingMessage]] = {}

    async def close(self) -> None:
        self._closing = True
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and not connection.is_closed:
            await connection.close()

    async def connection(self) -> AbstractConnection:
        async with self._lock:
            return await self._open()

    async def _open(self) -> AbstractConnection:
        """The connection (the lock is held), opened and its topology checked when needed."""
        if self._closing:
            raise ClientError("the client is closed")
        if self._connection is None or self._connection.is_closed:
            connection = await connect(self.amqp_url)
            connection.close_callbacks.add(self._on_connection_closed)
            self._connection, self._channel = connection, None
        if not self._checked:
            await self._check_topology(self._connection)
            self._checked = True
        return self._connection

    async def channel(self) -> AbstractChannel:
        """The publishing channel: confirms on, returns raised, direct reply-to consumed."""
        async with self._lock:
            if self._channel is not None and not self._channel.is_closed:
                return self._channel
            connection = await self._open()
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            # Direct reply-to: the pseudo-queue must be consumed (no-ack) before requests go out.
            replies = await channel.get_queue(DIRECT_REPLY_TO, ensure=False)
            await replies.consume(self._on_reply, no_ack=True)
            self._channel = channel
            return channel

    async def _check_topology(self, connection: AbstractConnection) -> None:
        # A channel of its own: the broker closes a channel whose passive declare fails.
        async with _closing(await connection.channel(publisher_confirms=False)) as channel:
            try:
                if self.declare:
                    await declare_topology(
                        channel, self.topology, delivery_limit=self.delivery_limit
                    )
                else:
                    await check_topology(channel, self.topology)
            except ChannelPreconditionFailed as exc:
                raise BrokerRefused(
                    f"the broker refused the topology of prefix {self.topology.prefix!r}: {exc}"
                    " (INVOICEBUS_DELIVERY_LIMIT must match the services')"
                ) from exc
            except ChannelAccessRefused:
                # A tenant's broker user may not configure the topology (only the services'
                # and the operators' may), and the services have declared it: carry on. (The
                # refusal closed only this channel.)
                pass
            except ChannelClosed as exc:
                raise BrokerRefused(f"the broker refused the topology: {exc}") from exc

    @asynccontextmanager
    async def own_channel(self, *, publisher_confirms: bool) -> AsyncIterator[AbstractChannel]:
        """A channel apart from the publishing one, closed after use (which also returns the
        messages it fetched and did not ack)."""
        connection = await self.connection()
        # A confirmed channel also raises returns: an unroutable publish is an error.
        async with _closing(
            await connection.channel(
                publisher_confirms=publisher_confirms, on_return_raises=publisher_confirms
            )
        ) as channel:
            yield channel

    async def consumer_count(self, queue: str) -> int | None:
        """How many consumers the queue has now (0: what is published there waits); None when
        this user may not look (a tenant's)."""
        async with self.own_channel(publisher_confirms=False) as channel:
            try:
                declared = await channel.declare_queue(queue, passive=True)
            except ChannelNotFoundEntity as exc:
                raise BrokerRefused(f"queue {queue!r} does not exist") from exc
            except ChannelAccessRefused:
                return None
            count: int = declared.declaration_result.consumer_count or 0
            return count

    async def publish(self, exchange: str, routing_key: str, message: aio_pika.Message) -> None:
        """Publish until the broker confirms it, reconnecting between attempts with backoff
        (0.5 s, 1 s, 2 s, ...); one span for all attempts, its trace context in the message's
        headers."""
        with self.tracing.publish(exchange, routing_key, message.headers, message.message_id):
            await self._publish(exchange, routing_key, message)

    async def _publish(self, exchange: str, routing_key: str, message: aio_pika.Message) -> None:
        try:
            await retried(
                lambda: self._publish_once(exchange, routing_key, message),
                attempts=self.publish_attempts,
                worth_it=_worth_another_try,
                backoff=BACKOFF_START,
            )
        except PublishError as exc:  # returned: no queue bound for this routing key
            raise BrokerRefused(
                f"{routing_key!r} on {exchange!r} is not routable: no queue is bound for it"
            ) from exc
        except ChannelClosed as exc:
            raise BrokerRefused(f"the broker refused the publish to {exchange!r}: {exc}") from exc
        except (*RETRYABLE, TimeoutError) as exc:
            raise Unavailable(
                f"publish not confirmed after {self.publish_attempts} tries: {exc!r}"
            ) from exc

    async def _publish_once(
        self, exchange: str, routing_key: str, message: aio_pika.Message
    ) -> None:
        channel = await self.channel()
        try:
            target = await channel.get_exchange(exchange, ensure=False)
            await target.publish(message, routing_key, timeout=DEFAULT_TIMEOUT)
        except PublishError:
            raise
        except (*RETRYABLE, TimeoutError):
            await self._drop(channel)
            raise

    async def request(
        self,
        exchange: str,
        routing_key: str,
        message: aio_pika.Message,
        *,
        reply_timeout: float,
        on_published: Callable[[], object] | None = None,
    ) -> RawReply:
        """Publish ``message`` (its ``reply_to`` and a fresh ``correlation_id`` set) and wait
        for the reply; a connection lost while waiting resends it at once, ``message_id``
        unchanged. ``on_published`` is called once, when the broker first confirmed it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + reply_timeout
        key = message.correlation_id
        assert key, "a request needs a correlation_id"
        published = False

        async def ask() -> RawReply:
            nonlocal published
            future: asyncio.Future[AbstractIncomingMessage] = loop.create_future()
            self._replies[key] = future
            try:
                await self.publish(exchange, routing_key, message)
                if not published:
                    published = True
                    if on_published is not None:
                        on_published()
                remaining = max(0.0, deadline - loop.time())
                reply = await asyncio.wait_for(asyncio.shield(future), remaining)
            except TimeoutError:
                raise NoReply(
                    f"no reply to {routing_key} (message_id {message.message_id}) within"
                    f" {reply_timeout:g}s; is the service running?"
                ) from None
            finally:
                self._replies.pop(key, None)
            status = int(str((reply.headers or {}).get(Header.STATUS.value, 0)))
            return RawReply(status, reply.body)

        try:
            with self.tracing.request(routing_key):
                return await retried(
                    ask,
                    attempts=self.publish_attempts,
                    worth_it=lambda exc: isinstance(exc, _ConnectionLost),
                    backoff=None,
                )
        except _ConnectionLost:
            raise Unavailable(
                f"connection lost while waiting for the reply to {message.message_id}"
            ) from None

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._replies.get(message.correlation_id or "")
        if future is not None and not future.done():
            future.set_result(message)

    def _on_connection_closed(self, *_: Any) -> None:
        """Every request waiting for a reply sends again on a new connection (or, once the
        client is closing, gives up)."""
        error: Exception = (
            ClientError("the client is closed") if self._closing else _ConnectionLost()
        )
        for future in self._replies.values():
            if not future.done():
                future.set_exception(error)

    async def _drop(self, channel: AbstractChannel) -> None:
        """Drop a broken connection so the next attempt opens a new one, unless another caller
        has already replaced it."""
        async with self._lock:
            connection = self._connection
            if self._channel is not channel and self._channel is not None:
                return
            self._connection, self._channel = None, None
        if connection is not None:
            with suppress(Exception):  # it is broken already; we only tidy up
                await connection.close()


@asynccontextmanager
async def _closing(channel: AbstractChannel) -> AsyncIterator[AbstractChannel]:
    try:
        yield channel
    finally:
        if not channel.is_closed:
            with suppress(Exception):  # the connection may be gone with it
                await channel.close()
