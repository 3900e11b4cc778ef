"""``events.replay``: republish stored ``created`` events to a queue the caller names.

the caller (``access``: ``unauthenticated`` without one when authorization is required) → body
→ ``ReplayRequest`` → the queue may be written to (it is none of invoicebus's own) → the
entity: the one named, if the caller may act on it (``entity_not_found`` alike for one that
does not exist and one not granted); none named, every entity for an admin (or anyone while
authorization is off), else the caller's default entity, as for a list → the cursor → stored
records, oldest first, read in batches
→ each record's event (``messaging.created_event``: the live event's id, correlation, headers
and body) published into the queue and confirmed, one after the other so the queue holds them
in order → a reply with how many, and a cursor when more match. Replays run a few at a time
(``slots``, fair between entities), so a burst of them cannot crowd out the list requests;
one that gets no slot in time is ``query_timeout``, like a list.

Clients never need the database, and who may replay which entity's events is decided here, in
the service, like every other read.
"""

from __future__ import annotations

from collections.abc import Set
from contextlib import aclosing

from invoicebus_contracts import ErrorCode, ReplayReply, ReplayRequest, Resource
from invoicebus_contracts.wire import InvalidMessage, encode, parse

from ..access import Access
from ..domain.errors import DomainError
from ..domain.ids import hex_part
from ..messaging import Envelope, created_event
from ..tenancy import Caller
from .ports import EventHistory, EventSink, QueryTimeout
from .service import Reply
from .slots import NoSlot, Slots

#: Records read from the database at a time, per collection.
BATCH_SIZE = 200
#: Replays running at once in one service (one per entity): each reads and publishes up to
#: ``limits.REPLAY_LIMIT_MAX`` events, so a burst of them must not crowd out the list requests.
REPLAYS_AT_ONCE = 2


class EventReplay:
    def __init__(
        self,
        history: EventHistory,
        sink: EventSink,
        access: Access,
        *,
        protected_queues: Set[str],
        slots: Slots,
    ) -> None:
        self.history = history
        self.sink = sink
        self.access = access
        #: Queues an event must never be written into: the services' own.
        self.protected_queues = protected_queues
        #: Replays run a few at a time, fairly between entities.
        self.slots = slots

    async def answer(self, _key: object, envelope: Envelope) -> Reply:
        """The status and body of the reply to one replay request."""
        try:
            caller = await self.access.caller(envelope)
            request = parse(ReplayRequest, envelope.body)
            return Reply(200, encode(await self.replay(request, caller)))
        except InvalidMessage as exc:
            return Reply.refusing(exc.body)
        except DomainError as exc:
            return Reply.refusing(exc.to_body())
        except NoSlot:
            timeout = QueryTimeout("waiting", round(self.slots.wait_seconds * 1000))
            return Reply.refusing(timeout.to_body(), timeout_stage=timeout.stage)

    async def replay(self, request: ReplayRequest, caller: Caller) -> ReplayReply:
        queue = request.to_queue
        if queue in self.protected_queues:
            raise DomainError(
                ErrorCode.VALIDATION_ERROR,
                f"{queue!r} is one of invoicebus's own queues; replay into a queue of yours",
                ["to_queue"],
            )
        entity_id = await self._entity(request.entity_id, caller)
        after = None
        if request.next_cursor is not None:
            after = hex_part(request.next_cursor)
            if after is None or request.next_cursor != after:
                raise DomainError(
                    ErrorCode.INVALID_CURSOR, "is not a replay cursor", ["next_cursor"]
                )
        resources = [r for r in Resource if not request.types or r.created_key in request.types]
        async with self.slots.slot(entity_id or ""):
            return await self._republish(request, resources, entity_id, after)

    async def _republish(
        self,
        request: ReplayRequest,
        resources: list[Resource],
        entity_id: str | None,
        after: str | None,
    ) -> ReplayReply:
        queue = request.to_queue
        records = self.history.created_since(
            resources,
            request.since,
            entity_id=entity_id,
            after=after,
            batch_size=min(BATCH_SIZE, request.limit + 1),
        )
        replayed, last = 0, None
        async with aclosing(records):
            async for record in records:
                if replayed == request.limit:
                    return ReplayReply(replayed=replayed, has_more=True, next_cursor=last)
                if not await self.sink.send_event(queue, created_event(record)):
                    raise _no_queue(queue, replayed)
                replayed, last = replayed + 1, hex_part(record.id)
        return ReplayReply(replayed=replayed, has_more=False, next_cursor=None)

    async def _entity(self, named: str | None, caller: Caller) -> str | None:
        """Whose events: ``named`` if the caller may act on it; none named, every entity's
        (None) for an unrestricted caller, else its default entity's."""
        if named is None and caller.unrestricted:
            return None
        try:
            return await self.access.tenancy.resolve(named, caller)
        except DomainError as exc:
            if named is None:
                raise
            raise DomainError(exc.code, exc.message, ["entity_id"]) from None


def _no_queue(queue: str, replayed: int) -> DomainError:
    gone = f" ({replayed} event(s) went in before it disappeared)" if replayed else ""
    return DomainError(
        ErrorCode.VALIDATION_ERROR,
        f"there is no queue {queue!r}: declare it before asking for a replay{gone}",
        ["to_queue"],
    )
