"""``InvoicebusClient``: the contract's operations (create, list, tail, dead letters) for
Python callers; the CLI runs on it.

It declares the topology before its first publish (so a command sent before the services start
waits in its queue), publishes persistent messages with publisher confirms, and retries a
publish the broker did not confirm (connection lost, nack) with backoff. A command keeps one
``message_id`` across those retries, so a retry is idempotent on the service side.
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Self

import aio_pika

from invoicebus_contracts import (
    CONTENT_TYPE,
    DEFAULT_DELIVERY_LIMIT,
    DEFAULT_PREFIX,
    Header,
    Resource,
    Topology,
)

from .deadletters import DeadLetter, browse, dead_letter, replay
from .errors import ErrorReply
from .events import Event, event_from
from .tracing import Tracing
from .transport import DEFAULT_TIMEOUT, DIRECT_REPLY_TO, PUBLISH_ATTEMPTS, Reply, Transport
from .urls import user_of

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider


class InvoicebusClient:
    """``async with InvoicebusClient(url, prefix) as client: await client.create(...)``."""

    def __init__(
        self,
        amqp_url: str,
        prefix: str = DEFAULT_PREFIX,
        *,
        entity_id: str | None = None,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        publish_attempts: int = PUBLISH_ATTEMPTS,
        user_id: str | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        """``tracer_provider``: where the client's spans go (OpenTelemetry; by default the
        global provider, which records nothing until the application installs an SDK)."""
        self.topology = Topology(prefix)
        #: Sent as ``x-entity-id``: the entity the commands and queries act on.
        self.entity_id = entity_id
        #: Sent as ``user_id``: who acts. RabbitMQ accepts only the connection's own user name,
        #: which is the default (the URL's user, or RabbitMQ's default, guest); "" sends none.
        self.user_id = user_of(amqp_url) if user_id is None else user_id
        # delivery_limit must match the services' setting: queues are declared with it.
        self._transport = Transport(
            amqp_url,
            self.topology,
            delivery_limit=delivery_limit,
            publish_attempts=publish_attempts,
            tracing=Tracing(tracer_provider),
        )

    @property
    def amqp_url(self) -> str:
        return self._transport.amqp_url

    @property
    def delivery_limit(self) -> int:
        return self._transport.delivery_limit

    @property
    def publish_attempts(self) -> int:
        return self._transport.publish_attempts

    async def __aenter__(self) -> Self:
        await self._transport.channel()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._transport.close()

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
            await self._transport.publish(exchange, key, self._message(raw, message_id))
            return Reply(202, None, message_id)
        message = self._message(raw, message_id, reply=True)
        reply = await self._transport.request(exchange, key, message, reply_timeout=reply_timeout)
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
        # A request nobody answered in time is useless later: let the broker drop it.
        message = self._message(raw, str(uuid.uuid4()), reply=True, expiration=reply_timeout)
        reply = await self._transport.request(
            self.topology.queries_exchange, resource.list_key, message, reply_timeout=reply_timeout
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
        self,
        bindings: Iterable[str] = ("#",),
        *,
        entity_ids: Iterable[str] | None = None,
        on_ready: Callable[[], None] | None = None,
    ) -> AsyncIterator[Event]:
        """Live events on a private, exclusive, auto-deleted queue, until the caller stops.

        Without ``entity_ids``: from the events exchange (the services' trusted subscribers
        and admins). With them: from the tenant events exchange, each binding qualified by
        each entity (``customer.*`` becomes ``ent_….customer.*``), which is all a tenant's
        broker user may bind. ``on_ready`` is called once the queue is bound: events from
        then on are seen."""
        channel = await self._transport.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        if entity_ids is None:
            for binding in bindings:
                await queue.bind(self.topology.events_exchange, routing_key=binding)
        else:
            exchange = self.topology.tenant_events_exchange
            for entity_id in entity_ids:
                for binding in bindings:
                    key = self.topology.tenant_event_key(entity_id, binding)
                    await queue.bind(exchange, routing_key=key)
        if on_ready is not None:
            on_ready()
        async with queue.iterator(no_ack=True) as messages:
            async for message in messages:
                traceparent = self._transport.tracing.receive(message)
                yield event_from(message, traceparent)

    # -- dead letters ------------------------------------------------------------------------

    async def dlq_list(self, limit: int = 1000) -> builtins.list[DeadLetter]:
        """Dead-lettered messages, left in the queue (fetched unacked, returned on close)."""
        async with self._transport.own_channel(publisher_confirms=False) as channel:
            messages = await browse(channel, self.topology.dead_letter_queue, limit)
            return [dead_letter(m) for m in messages]

    async def dlq_replay(
        self, message_ids: Iterable[str] | None = None, *, limit: int = 1000
    ) -> builtins.list[DeadLetter]:
        """Republish chosen dead letters (all when ``message_ids`` is None) to where they were
        first sent, without the error headers; each leaves the queue only once the broker has
        confirmed its republished copy. Returns the replayed ones."""
        async with self._transport.own_channel(publisher_confirms=True) as channel:
            return await replay(channel, self.topology.dead_letter_queue, message_ids, limit)

    def _message(
        self, body: bytes, message_id: str, *, reply: bool = False, expiration: float | None = None
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
            user_id=self.user_id or None,
        )
