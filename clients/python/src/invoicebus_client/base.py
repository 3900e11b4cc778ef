"""What every part of the client shares: the connection (``Transport``), the topology's names,
the entity it acts on, and how a body and a message are made."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Self

import aio_pika
from pydantic import BaseModel

from invoicebus_contracts import (
    CONTENT_TYPE,
    DEFAULT_COMMAND_SHARDS,
    DEFAULT_DELIVERY_LIMIT,
    DEFAULT_PREFIX,
    Header,
    Topology,
)
from invoicebus_contracts.fields import decimal_to_json

from .defaults import PUBLISH_ATTEMPTS
from .errors import ClientError, ErrorReply
from .tracing import Tracing
from .transport import DIRECT_REPLY_TO, RawReply, Transport, correlation_id
from .urls import user_of

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

#: A command or request body: a contract model, a JSON object, or JSON bytes as they are.
Body = BaseModel | Mapping[str, Any] | bytes


def new_message_id() -> str:
    """A fresh idempotency key. Keep it to retry a command safely."""
    return str(uuid.uuid4())


def encode_body(body: Body) -> bytes:
    """A body as JSON bytes: a model as its JSON (the fields it was given), a mapping with
    ``Decimal`` values as exact JSON numbers, bytes unchanged."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, BaseModel):
        return body.model_dump_json(exclude_unset=True).encode()
    return json.dumps(body, default=_json_default, ensure_ascii=False).encode()


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return decimal_to_json(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class ClientBase:
    def __init__(
        self,
        amqp_url: str,
        prefix: str = DEFAULT_PREFIX,
        *,
        entity_id: str | None = None,
        declare: bool = False,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        command_shards: int = DEFAULT_COMMAND_SHARDS,
        publish_attempts: int = PUBLISH_ATTEMPTS,
        user_id: str | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        """``declare``: declare the topology instead of checking that it exists (for a client
        that may publish before the services ever ran; ``delivery_limit`` must then be the
        services' ``INVOICEBUS_DELIVERY_LIMIT``, and ``command_shards`` their
        ``INVOICEBUS_COMMAND_SHARDS``). ``tracer_provider``: where the client's spans
        go (OpenTelemetry; by default the global provider, which records nothing until the
        application installs an SDK)."""
        self.topology = Topology(prefix, command_shards)
        #: Sent as ``x-entity-id``: the entity the commands and queries act on.
        self.entity_id = entity_id
        #: Sent as ``user_id``: who acts. RabbitMQ accepts only the connection's own user name,
        #: which is the default (the URL's user, or RabbitMQ's default, guest); "" sends none.
        self.user_id = user_of(amqp_url) if user_id is None else user_id
        #: Sent on every message besides the contract's own (``scoped``).
        self.headers: dict[str, str] = {}
        self._transport = Transport(
            amqp_url,
            self.topology,
            declare=declare,
            delivery_limit=delivery_limit,
            publish_attempts=publish_attempts,
            tracing=Tracing(tracer_provider),
        )

    @property
    def amqp_url(self) -> str:
        return self._transport.amqp_url

    async def __aenter__(self) -> Self:
        try:
            await self._transport.channel()
        except BaseException:
            await self.close()  # what was opened before the failure
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._transport.close()

    def scoped(self, *, entity_id: str | None, headers: Mapping[str, str] | None = None) -> Self:
        """This client acting on ``entity_id`` and sending ``headers`` too, on the same
        connection: a cheap copy for one caller's requests (an HTTP gateway makes one per
        request). Close the original, not the copies."""
        other = copy.copy(self)
        other.entity_id = entity_id
        other.headers = {**self.headers, **(headers or {})}
        return other

    async def connected(self, wait: float) -> bool:
        """Whether the broker connection is up: opened (and the topology checked) if it is
        not, within ``wait`` seconds. For a readiness probe."""
        try:
            await asyncio.wait_for(self._transport.channel(), wait)
        except (ClientError, OSError, TimeoutError):
            return False
        return True

    async def raw_reply(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str | None = None,
        reply_timeout: float,
        on_published: Callable[[], object] | None = None,
    ) -> RawReply:
        """A request and its reply as it came (``x-status`` and the body bytes, whatever the
        status): for a proxy that passes replies on unchanged. With ``message_id`` it is a
        command (persistent, never expires); without, a request that expires unanswered."""
        command = message_id is not None
        message = self._message(
            body,
            message_id or new_message_id(),
            reply=True,
            expiration=None if command else reply_timeout,
        )
        return await self._transport.request(
            exchange,
            routing_key,
            message,
            reply_timeout=reply_timeout,
            on_published=on_published,
        )

    async def request(
        self, exchange: str, routing_key: str, body: Body, *, reply_timeout: float
    ) -> bytes:
        """A request answered with 200: the reply's body, or ``ErrorReply``."""
        # A request nobody answered in time is useless later: let the broker drop it.
        message = self._message(
            encode_body(body), new_message_id(), reply=True, expiration=reply_timeout
        )
        reply = await self._transport.request(
            exchange, routing_key, message, reply_timeout=reply_timeout
        )
        if reply.status != 200:
            raise ErrorReply(reply.status, reply.body)
        return reply.body

    def _message(
        self, body: bytes, message_id: str, *, reply: bool = False, expiration: float | None = None
    ) -> aio_pika.Message:
        headers: dict[str, Any] = dict(self.headers)
        if self.entity_id:
            headers[Header.ENTITY_ID.value] = self.entity_id
        return aio_pika.Message(
            body,
            content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            correlation_id=correlation_id() if reply else None,
            reply_to=DIRECT_REPLY_TO if reply else None,
            headers=headers,
            expiration=expiration,
            user_id=self.user_id or None,
        )
