"""Events: as a subscriber sees them (``Event``; anyone may publish to the events exchange, so
text that is not UTF-8 is shown escaped), live (``tail``), and replayed from storage
(``replay_events``) to a queue of the caller's, so a new subscriber can catch up on what
happened before it subscribed and then deduplicate on the event id as usual."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from invoicebus_contracts import REPLAY_KEY, Header, ReplayReply, ReplayRequest, limits

from .base import ClientBase
from .decoding import json_or_text, text
from .defaults import REPLAY_TIMEOUT


@dataclass(frozen=True)
class Event:
    type: str
    id: str | None
    entity_id: str | None
    correlation_id: str | None
    body: Any
    #: The W3C trace context to continue the event's trace from: the receive span's when
    #: tracing is on, else the one the event carried (None when it carried none).
    traceparent: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def event_from(message: AbstractIncomingMessage, traceparent: str | None = None) -> Event:
    headers = message.headers or {}
    return Event(
        type=text(headers.get(Header.EVENT_TYPE.value)) or text(message.routing_key) or "",
        id=text(message.message_id),
        entity_id=text(headers.get(Header.ENTITY_ID.value)),
        correlation_id=text(message.correlation_id),
        body=json_or_text(message.body),
        traceparent=traceparent,
    )


class EventOps(ClientBase):
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

    async def replay_events(
        self,
        to_queue: str,
        since: datetime,
        *,
        entity_id: str | None = None,
        types: Iterable[str] = (),
        limit: int | None = None,
        page_size: int = limits.REPLAY_LIMIT_DEFAULT,
        reply_timeout: float = REPLAY_TIMEOUT,
        on_page: Callable[[ReplayReply], object] | None = None,
    ) -> int:
        """Have the services republish the stored ``created`` events of resources created
        since ``since`` (of ``entity_id``, of ``types``) to ``to_queue``, oldest first, with
        their original ids, headers and bodies; returns how many. At most ``limit`` (default:
        every one), ``page_size`` per request; ``on_page`` sees each request's reply.

        ``to_queue`` must exist. The events are confirmed by the broker before each reply,
        so once this returns they are in the queue."""
        total = 0
        cursor: str | None = None
        while limit is None or total < limit:
            size = page_size if limit is None else min(page_size, limit - total)
            request = ReplayRequest(
                to_queue=to_queue, since=since, entity_id=entity_id, types=list(types),
                limit=size, next_cursor=cursor,
            )  # fmt: skip
            raw = await self.request(
                self.topology.queries_exchange, REPLAY_KEY, request, reply_timeout=reply_timeout
            )
            reply = ReplayReply.model_validate_json(raw)
            total += reply.replayed
            if on_page is not None:
                on_page(reply)
            if not reply.has_more or reply.next_cursor is None:
                break
            cursor = reply.next_cursor
        return total
