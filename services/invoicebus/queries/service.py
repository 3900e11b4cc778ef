"""The way of one list request, as a straight line:

sender and entity (``access``: who acts, ``x-entity-id`` or its default entity) → body →
``ListRequest`` → compile ``query`` + ``search`` → ``order_by`` → a slot (``slots``) → decode
the cursor → fetch ``limit + 1`` documents (and count every match unless
``include_total_count`` is false) → the page and its cursors.

Every request is scoped to one entity, except ``entity.list``: entities are the tenants
themselves, so it lists those granted to the sender (all of them for an admin, or with
authorization off).

Each request has a time budget, ``time_limit_ms``, for its database reads, from the moment it
gets its slot (each read's server-side ``maxTimeMS`` is what is left of it); the wait for the
slot is bounded on its own (``Slots.wait_seconds``), and not taken out of the budget: a tenant
with many cheap requests in flight waits for its own slots, and its reads must not then be
cut short for it. A request over either is answered ``query_timeout`` at once; it is never
retried, so a costly request costs the database at most its budget, once.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from invoicebus_contracts import (
    LIST_REPLY_MODELS,
    ErrorBody,
    ListReply,
    ListRequest,
    Pagination,
    Resource,
)
from invoicebus_contracts.wire import InvalidMessage, InvalidValue, encode, parse

from ..access import Access, Acting
from ..domain.errors import DomainError
from ..messaging import Envelope
from ..querying.compiler import Filter, and_, compile_query
from ..querying.cursors import (
    Cursor,
    CursorError,
    Direction,
    Ordering,
    Position,
    decode_cursor,
    fingerprint,
    parse_order_by,
)
from ..querying.errors import QueryError
from ..querying.fields import GRANTS_PATH, public_fields
from ..querying.pagination import assemble, page_query
from ..querying.seal import Seal
from .ports import QueryTimeout, Reader
from .slots import NoSlot, Slots

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    #: ``ok``, or the error code of the refusal.
    result: str = "ok"
    #: Where the time of a ``query_timeout`` went (``QueryTimeout.stage``).
    timeout_stage: str | None = None

    @classmethod
    def refusing(cls, body: ErrorBody, *, timeout_stage: str | None = None) -> Reply:
        """The reply of an error body."""
        return cls(body.status, encode(body), body.error.code.value, timeout_stage)


class Budget:
    """What is left of one request's time limit."""

    def __init__(self, limit_ms: int) -> None:
        self.limit_ms = limit_ms
        self.deadline = time.monotonic() + limit_ms / 1000

    def ms(self) -> int:
        """What is left, for ``maxTimeMS``, where 0 would mean no limit at all: at least 1."""
        return max(1, math.ceil((self.deadline - time.monotonic()) * 1000))


class QueryService:
    def __init__(
        self, reader: Reader, access: Access, *, seal: Seal, slots: Slots, time_limit_ms: int
    ) -> None:
        self.reader = reader
        self.access = access
        self.seal = seal
        self.slots = slots
        self.time_limit_ms = time_limit_ms

    async def answer(self, resource: Resource, envelope: Envelope) -> Reply:
        """The reply to one list request."""
        try:
            acting = await self.access.resolve(resource, envelope)
            return Reply(200, encode(await self.list(resource, envelope.body, acting)))
        except InvalidMessage as exc:
            return Reply.refusing(exc.body)
        except QueryTimeout as exc:
            return Reply.refusing(exc.to_body(), timeout_stage=exc.stage)
        except DomainError as exc:
            return Reply.refusing(exc.to_body())

    async def list(self, resource: Resource, body: bytes, acting: Acting) -> ListReply[Any]:
        request = _parse_request(body)
        compiled = compile_query(resource, request.query, request.search)
        ordering = parse_order_by(resource, request.order_by)
        scope, owned = _scope(acting)
        fp = fingerprint(resource, scope, ordering, compiled.canonical)
        base = compiled.filter if owned is None else and_(owned, compiled.filter)
        try:
            async with self.slots.slot(scope or ""):
                budget = Budget(self.time_limit_ms)
                cursor = await self._cursor(resource, request, base, ordering, fp, budget)
                query = page_query(base, ordering, request.limit, cursor)
                find = self.reader.find(
                    resource, query.filter, query.sort, query.fetch, time_limit_ms=budget.ms()
                )
                if request.include_total_count:
                    count = self.reader.count(resource, base, time_limit_ms=budget.ms())
                    fetched, total = await _both(find, count)
                else:
                    fetched, total = await find, -1
        except NoSlot:
            raise QueryTimeout("waiting", round(self.slots.wait_seconds * 1000)) from None
        except QueryTimeout as exc:
            raise QueryTimeout(exc.stage, self.time_limit_ms) from None
        page = assemble(fetched, query, ordering, fp, self.seal)
        return LIST_REPLY_MODELS[resource](
            data=[public_fields(doc) for doc in page.documents],
            pagination=Pagination(
                total=total,
                next_cursor=page.next_cursor,
                prev_cursor=page.prev_cursor,
                has_more=page.has_more,
            ),
        )

    async def _cursor(
        self,
        resource: Resource,
        request: ListRequest,
        base: Filter,
        ordering: Ordering,
        fp: str,
        budget: Budget,
    ) -> Cursor | None:
        if request.next_cursor and request.prev_cursor:
            raise CursorError("send next_cursor or prev_cursor, not both", "prev_cursor")
        if request.next_cursor:
            cursor = decode_cursor(request.next_cursor, Direction.NEXT, ordering, fp, self.seal)
        elif request.prev_cursor:
            cursor = decode_cursor(request.prev_cursor, Direction.PREV, ordering, fp, self.seal)
        else:
            return None
        if cursor.position.known:
            return cursor
        # The sort value was too long to travel in the cursor: read it from its document.
        doc = await self.reader.find_one(
            resource,
            and_(base, {"_id": cursor.position.id}),
            [ordering.path],
            time_limit_ms=budget.ms(),
        )
        if doc is None:
            raise CursorError(
                "points at a document that is not in this list", cursor.direction.field
            )
        return replace(cursor, position=Position(doc["_id"], doc.get(ordering.path)))


def _scope(acting: Acting) -> tuple[str | None, Filter | None]:
    """What the list is limited to, as a name for cursors' fingerprints and as a filter: the
    entity; for ``entity.list``, the entities granted to a restricted sender; else nothing."""
    if acting.entity_id is not None:
        return acting.entity_id, {"entity_id": acting.entity_id}
    principal = acting.caller.list_scope
    if principal is not None:
        return f"granted to {principal}", {GRANTS_PATH: principal}
    return None, None


def _parse_request(body: bytes) -> ListRequest:
    try:
        return parse(ListRequest, body)
    except InvalidValue as exc:
        # A number out of range or text that is not Unicode, inside the query: a query error.
        if exc.loc[:1] == ["query"]:
            raise QueryError(exc.detail, exc.loc) from None
        raise
    except InvalidMessage as exc:
        # A query of the wrong JSON type is a query error like any other, named as such.
        if exc.body.error.errors and all(e.loc[:1] == ["query"] for e in exc.body.error.errors):
            raise QueryError(
                "must be a JSON object of field conditions, or that object as a JSON string",
                ["query"],
            ) from None
        raise


async def _both(first: Awaitable[T], second: Awaitable[U]) -> tuple[T, U]:
    """Both results, awaited together; if either fails, its error once both are done (so
    neither read outlives the slot it runs under)."""
    a, b = await asyncio.gather(first, second, return_exceptions=True)
    for outcome in (a, b):
        if isinstance(outcome, BaseException):
            raise outcome
    return a, b  # type: ignore[return-value]  # both are results here
