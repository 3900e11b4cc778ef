"""One connection to the broker, as the client uses it: a publishing channel (confirms on,
topology declared, direct reply-to consumed), confirmed publishing with retries, and
request/reply.

Retries use tenacity: a publish the broker did not confirm (connection lost, nack, timeout) is
sent again on a new connection with exponential backoff; a request whose connection closed
while it waited for the reply is sent again at once. Either way the message keeps its
``message_id``, so the service counts it once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from aio_pika.exceptions import (
    AMQPConnectionError,
    ChannelInvalidStateError,
    ChannelPreconditionFailed,
    DeliveryError,
    PublishError,
)
from aiormq.exceptions import ChannelAccessRefused
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from invoicebus_contracts import Header, Topology

from .decoding import json_or_text
from .errors import NoReply, Unavailable
from .topology import declare_topology
from .tracing import Tracing
from .urls import redacted

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"
DEFAULT_TIMEOUT = 30.0
PUBLISH_ATTEMPTS = 4
BACKOFF_START = 0.5

#: Failures after which the same publish may succeed on a new connection.
RETRYABLE = (AMQPConnectionError, ConnectionError, ChannelInvalidStateError, DeliveryError)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    #: The ``message_id`` of the request; reuse it to retry the same command idempotently.
    message_id: str


def _worth_another_try(exc: BaseException) -> bool:
    # A returned message (no queue bound to its routing key) would only be returned again.
    if isinstance(exc, PublishError):
        return False
    return isinstance(exc, (*RETRYABLE, Unavailable, TimeoutError))


class _ConnectionLost(Exception):
    """The connection closed while a request waited for its reply."""


class Transport:
    def __init__(
        self,
        amqp_url: str,
        topology: Topology,
        *,
        delivery_limit: int,
        publish_attempts: int,
        tracing: Tracing,
    ) -> None:
        self.amqp_url = amqp_url
        self.tracing = tracing
        self.topology = topology
        #: Must match the services' setting: queues are declared with it as an argument.
        self.delivery_limit = delivery_limit
        self.publish_attempts = publish_attempts
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._declared = False
        self._replies: dict[str, asyncio.Future[AbstractIncomingMessage]] = {}

    async def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and not connection.is_closed:
            await connection.close()

    async def connection(self) -> AbstractConnection:
        if self._connection is None or self._connection.is_closed:
            try:
                self._connection = await aio_pika.connect(self.amqp_url, timeout=10)
            except (OSError, AMQPConnectionError, TimeoutError) as exc:
                raise Unavailable(
                    f"cannot reach RabbitMQ at {redacted(self.amqp_url)}: {exc}"
                ) from exc
            self._channel = None
        return self._connection

    async def channel(self) -> AbstractChannel:
        """The publishing channel: confirms on, topology declared, direct reply-to consumed."""
        connection = await self.connection()
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
            except ChannelAccessRefused:
                # A tenant's broker user may not configure the topology (only the services'
                # and the operators' may); the services have declared it. The refusal closed
                # the channel: carry on with a new one.
                channel = await connection.channel(publisher_confirms=True)
            self._declared = True
        # Direct reply-to: the pseudo-queue must be consumed (no-ack) before requests go out.
        replies = await channel.get_queue(DIRECT_REPLY_TO, ensure=False)
        await replies.consume(self._on_reply, no_ack=True)
        self._channel = channel
        return channel

    @asynccontextmanager
    async def own_channel(self, *, publisher_confirms: bool) -> AsyncIterator[AbstractChannel]:
        """A channel apart from the publishing one, closed after use (which also returns the
        messages it fetched and did not ack)."""
        connection = await self.connection()
        channel = await connection.channel(publisher_confirms=publisher_confirms)
        try:
            yield channel
        finally:
            await channel.close()

    async def publish(self, exchange: str, routing_key: str, message: aio_pika.Message) -> None:
        """Publish until the broker confirms it, reconnecting between attempts with backoff;
        one span for all attempts, its trace context in the message's headers."""
        with self.tracing.publish(exchange, routing_key, message.headers, message.message_id):
            await self._publish(exchange, routing_key, message)

    async def _publish(self, exchange: str, routing_key: str, message: aio_pika.Message) -> None:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.publish_attempts),
            wait=wait_exponential(multiplier=BACKOFF_START),  # 0.5 s, 1 s, 2 s, ...
            retry=retry_if_exception(_worth_another_try),
            before_sleep=self._reset,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    channel = await self.channel()
                    target = await channel.get_exchange(exchange, ensure=False)
                    await target.publish(message, routing_key, timeout=DEFAULT_TIMEOUT)
        except PublishError as exc:  # returned: no queue bound for this routing key
            raise Unavailable(f"{routing_key!r} on {exchange!r} is not routable") from exc
        except (*RETRYABLE, TimeoutError) as exc:
            raise Unavailable(
                f"publish not confirmed after {self.publish_attempts} tries: {exc!r}"
            ) from exc

    async def request(
        self, exchange: str, routing_key: str, message: aio_pika.Message, *, reply_timeout: float
    ) -> Reply:
        """Publish ``message`` (its ``reply_to`` and ``correlation_id`` set) and wait for the
        reply; a connection lost while waiting resends it at once, ``message_id`` unchanged."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + reply_timeout
        message_id = message.message_id or ""
        key = message.correlation_id or message_id

        async def ask() -> Reply:
            future: asyncio.Future[AbstractIncomingMessage] = loop.create_future()
            self._replies[key] = future
            try:
                await self.publish(exchange, routing_key, message)
                lost: asyncio.Future[Any] = asyncio.ensure_future(
                    (await self.connection()).closed()
                )
                try:
                    done, _ = await asyncio.wait(
                        [future, lost],
                        timeout=max(0.0, deadline - loop.time()),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    lost.cancel()
            finally:
                self._replies.pop(key, None)
            if future in done:
                reply = future.result()
                status = int(str((reply.headers or {}).get(Header.STATUS.value, 0)))
                return Reply(status, json_or_text(reply.body), message_id)
            if not done:
                raise NoReply(
                    f"no reply to {routing_key} (message_id {message_id}) within"
                    f" {reply_timeout:g}s; is the service running?"
                )
            raise _ConnectionLost

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.publish_attempts),
            retry=retry_if_exception_type(_ConnectionLost),
            before_sleep=self._reset,
            reraise=True,
        )
        try:
            with self.tracing.request(routing_key):
                return await retrying.wraps(ask)()
        except _ConnectionLost:
            raise Unavailable(
                f"connection lost while waiting for the reply to {message_id}"
            ) from None

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._replies.get(message.correlation_id or "")
        if future is not None and not future.done():
            future.set_result(message)

    async def _reset(self, _: RetryCallState | None = None) -> None:
        """Drop a broken connection so the next attempt opens a new one."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with suppress(Exception):  # it is broken already; we only tidy up
                await connection.close()
