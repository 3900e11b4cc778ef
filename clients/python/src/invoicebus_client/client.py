"""``InvoicebusClient``: the contract's operations for Python callers, typed with the contract's
models; the CLI runs on it.

One client is one connection, shared by any number of concurrent calls (``asyncio.gather``
over creates and lists is fine: each request waits for the reply with its own correlation id).
Before the first publish it checks that the contract's exchanges exist (or declares the
topology, with ``declare=True``); it publishes persistent messages with publisher confirms and
retries a publish the broker did not confirm (connection lost, nack) with backoff. A command
keeps one ``message_id`` across those retries, so a retry is idempotent on the service side.

This module holds the resources' operations (create, send, list, iterate_all); the dead
letters' (``dlq_*``) are in ``dlq``, the events' (``tail``, ``replay_events``) in ``events``,
and what they share (the connection, the entity, how messages are made) in ``base``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Literal, overload

from invoicebus_contracts import (
    LIST_REPLY_MODELS,
    RESOURCE_MODELS,
    Customer,
    Entity,
    Item,
    ListReply,
    ListRequest,
    Resource,
    Tax,
)

from .base import Body, encode_body, new_message_id
from .defaults import DEFAULT_TIMEOUT
from .dlq import DeadLetterOps
from .errors import ErrorReply
from .events import EventOps

AnyResource = Entity | Customer | Tax | Item
#: A list request: the contract's model, or its fields as a mapping.
Request = ListRequest | Mapping[str, Any]


class InvoicebusClient(DeadLetterOps, EventOps):
    """``async with InvoicebusClient(url, prefix) as client: await client.create(...)``."""

    async def consumers(self, resource: Resource) -> int | None:
        """How many services consume the resource's commands now (0: commands wait); None
        when this broker user may not look (a tenant's).

        Every command service consumes every command shard, whatever the command, so this
        counts the consumers of shard 0 (which exists under any number of shards)."""
        return await self._transport.consumer_count(self.topology.command_shard_queue(0))

    # -- commands ----------------------------------------------------------------------------

    # fmt: off
    @overload
    async def create(self, resource: Literal[Resource.ENTITY], body: Body, *, message_id: str | None = ..., reply_timeout: float = ..., on_queued: Callable[[str], object] | None = ...) -> Entity: ...  # noqa: E501
    @overload
    async def create(self, resource: Literal[Resource.CUSTOMER], body: Body, *, message_id: str | None = ..., reply_timeout: float = ..., on_queued: Callable[[str], object] | None = ...) -> Customer: ...  # noqa: E501
    @overload
    async def create(self, resource: Literal[Resource.TAX], body: Body, *, message_id: str | None = ..., reply_timeout: float = ..., on_queued: Callable[[str], object] | None = ...) -> Tax: ...  # noqa: E501
    @overload
    async def create(self, resource: Literal[Resource.ITEM], body: Body, *, message_id: str | None = ..., reply_timeout: float = ..., on_queued: Callable[[str], object] | None = ...) -> Item: ...  # noqa: E501
    @overload
    async def create(self, resource: Resource, body: Body, *, message_id: str | None = ..., reply_timeout: float = ..., on_queued: Callable[[str], object] | None = ...) -> AnyResource: ...  # noqa: E501
    # fmt: on

    async def create(
        self,
        resource: Resource,
        body: Body,
        *,
        message_id: str | None = None,
        reply_timeout: float = DEFAULT_TIMEOUT,
        on_queued: Callable[[str], object] | None = None,
    ) -> AnyResource:
        """Send ``<resource>.create`` and return the created resource (for a repeated
        ``message_id``, the original one), or raise ``ErrorReply`` with the refusal.

        ``message_id`` is the idempotency key (default: a fresh one). ``on_queued`` is called
        with it once the broker has confirmed the command: from then on it will be processed
        even if this call is cancelled, and sending it again with that id is safe.
        """
        message_id = message_id or new_message_id()
        message = self._message(encode_body(body), message_id, reply=True)
        reply = await self._transport.request(
            self.topology.commands_exchange,
            resource.create_key,
            message,
            reply_timeout=reply_timeout,
            on_published=None if on_queued is None else lambda: on_queued(message_id),
        )
        if reply.status != 201:
            raise ErrorReply(reply.status, reply.body)
        return RESOURCE_MODELS[resource].model_validate_json(reply.body)

    async def send(self, resource: Resource, body: Body, *, message_id: str | None = None) -> str:
        """Publish ``<resource>.create`` without asking for a reply; returns its
        ``message_id`` once the broker has confirmed it (the service processes it later)."""
        message_id = message_id or new_message_id()
        message = self._message(encode_body(body), message_id)
        await self._transport.publish(self.topology.commands_exchange, resource.create_key, message)
        return message_id

    # -- queries -----------------------------------------------------------------------------

    # fmt: off
    @overload
    async def list(self, resource: Literal[Resource.ENTITY], request: Request | None = ..., *, reply_timeout: float = ...) -> ListReply[Entity]: ...  # noqa: E501
    @overload
    async def list(self, resource: Literal[Resource.CUSTOMER], request: Request | None = ..., *, reply_timeout: float = ...) -> ListReply[Customer]: ...  # noqa: E501
    @overload
    async def list(self, resource: Literal[Resource.TAX], request: Request | None = ..., *, reply_timeout: float = ...) -> ListReply[Tax]: ...  # noqa: E501
    @overload
    async def list(self, resource: Literal[Resource.ITEM], request: Request | None = ..., *, reply_timeout: float = ...) -> ListReply[Item]: ...  # noqa: E501
    @overload
    async def list(self, resource: Resource, request: Request | None = ..., *, reply_timeout: float = ...) -> ListReply[Any]: ...  # noqa: E501
    # fmt: on

    async def list(
        self,
        resource: Resource,
        request: Request | None = None,
        *,
        reply_timeout: float = DEFAULT_TIMEOUT,
    ) -> ListReply[Any]:
        """One page: ``data`` (the resources) and ``pagination`` (``total``, ``next_cursor``,
        ``prev_cursor``, ``has_more``); ``ErrorReply`` when refused (``invalid_query``...)."""
        raw = await self.request(
            self.topology.queries_exchange,
            resource.list_key,
            request if request is not None else {},
            reply_timeout=reply_timeout,
        )
        return LIST_REPLY_MODELS[resource].model_validate_json(raw)

    # fmt: off
    @overload
    def iterate_all(self, resource: Literal[Resource.ENTITY], request: Request | None = ..., *, reply_timeout: float = ...) -> AsyncIterator[Entity]: ...  # noqa: E501
    @overload
    def iterate_all(self, resource: Literal[Resource.CUSTOMER], request: Request | None = ..., *, reply_timeout: float = ...) -> AsyncIterator[Customer]: ...  # noqa: E501
    @overload
    def iterate_all(self, resource: Literal[Resource.TAX], request: Request | None = ..., *, reply_timeout: float = ...) -> AsyncIterator[Tax]: ...  # noqa: E501
    @overload
    def iterate_all(self, resource: Literal[Resource.ITEM], request: Request | None = ..., *, reply_timeout: float = ...) -> AsyncIterator[Item]: ...  # noqa: E501
    @overload
    def iterate_all(self, resource: Resource, request: Request | None = ..., *, reply_timeout: float = ...) -> AsyncIterator[AnyResource]: ...  # noqa: E501
    # fmt: on

    async def iterate_all(
        self,
        resource: Resource,
        request: Request | None = None,
        *,
        reply_timeout: float = DEFAULT_TIMEOUT,
    ) -> AsyncIterator[AnyResource]:
        """Every matching resource, following ``next_cursor``: a page is fetched only when the
        caller has consumed the one before, so stopping early costs nothing more."""
        if isinstance(request, ListRequest):
            request = request.model_dump(mode="json", exclude_unset=True)
        params = {k: v for k, v in (request or {}).items() if k != "prev_cursor"}
        while True:
            page = await self.list(resource, params, reply_timeout=reply_timeout)
            for item in page.data:
                yield item
            cursor = page.pagination.next_cursor
            if not cursor:
                return
            # Later pages need no count: it only costs the query service a second scan.
            params = {**params, "next_cursor": cursor, "include_total_count": False}
