"""The way of one list request, as a straight line:

sender and entity (``access``: who acts, ``x-entity-id`` or its default entity) → body →
``ListRequest`` → compile
``query`` + ``search`` → ``order_by`` → decode the cursor → fetch ``limit + 1`` documents
(and count every match unless ``include_total_count`` is false) → the page and its cursors.

Every request is scoped to one entity, except ``entity.list``: entities are the tenants
themselves, so it lists those granted to the sender (all of them for an admin, or with
authorization off).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

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
from .ports import Reader

#: The status and body of a reply.
Reply = tuple[int, bytes]


class QueryService:
    def __init__(self, reader: Reader, access: Access, *, seal: Seal) -> None:
        self.reader = reader
        self.access = access
        self.seal = seal

    async def answer(self, resource: Resource, envelope: Envelope) -> Reply:
        """The status and body of the reply to one list request."""
        try:
            acting = await self.access.resolve(resource, envelope)
            return 200, encode(await self.list(resource, envelope.body, acting))
        except InvalidMessage as exc:
            return _error(exc.body)
        except DomainError as exc:
            return _error(exc.to_body())

    async def list(self, resource: Resource, body: bytes, acting: Acting) -> ListReply[Any]:
        request = _parse_request(body)
        compiled = compile_query(resource, request.query, request.search)
        ordering = parse_order_by(resource, request.order_by)
        scope, owned = _scope(acting)
        fp = fingerprint(resource, scope, ordering, compiled.canonical)
        base = compiled.filter if owned is None else and_(owned, compiled.filter)
        cursor = await self._cursor(resource, request, base, ordering, fp)

        query = page_query(base, ordering, request.limit, cursor)
        find = self.reader.find(resource, query.filter, query.sort, query.fetch)
        if request.include_total_count:
            fetched, total = await asyncio.gather(find, self.reader.count(resource, base))
        else:
            fetched, total = await find, -1
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
        self, resource: Resource, request: ListRequest, base: Filter, ordering: Ordering, fp: str
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
            resource, and_(base, {"_id": cursor.position.id}), [ordering.path]
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


def _error(body: ErrorBody) -> Reply:
    return body.status, encode(body)
