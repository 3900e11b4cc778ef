"""Baseline (c): a hand-written RPC server for ``customer.list``, raw aio-pika + PyMongo.

It answers the list requests the harness sends (``limit``, ``include_total_count``,
``search``; first pages only) with the same find and count the query service runs on the same
database: the entity scope, a case-insensitive literal match on the ``_search`` array, ``_id``
order, ``limit + 1`` documents without the internal fields, and the count concurrently with the
find. Entities are never deleted, so the ones it has seen are cached. Replies go to
``reply_to`` through the default exchange, unconfirmed (they are transient), then the request
is acked. It does less than the service: no query language, no cursors to decode, no
validation beyond the types it reads.

    MONGODB_URL=... INVOICEBUS_PREFIX=... python -m benchmarks.baselines.rpc
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from invoicebus_contracts import CONTENT_TYPE, Header, Resource

from .common import (
    CUSTOMERS,
    ENTITIES,
    Config,
    Document,
    channels,
    consume_until,
    entity_of,
    resource,
    serve,
)

#: Internal fields a page never needs (everything the services prefix with ``_`` but the id).
_INTERNAL = {"_search": 0, "_idem": 0, "_event": 0, "_pending": 0}


class BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": "invalid_request_error", "code": code, "message": message}}


class Pages:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.customers = db[CUSTOMERS]
        self.entities = db[ENTITIES]
        self.known: set[str] = set()
        self.first: str | None = None

    async def entity(self, header: str | None) -> str:
        if header:
            if header not in self.known:
                if not await self.entities.count_documents({"_id": header}, limit=1):
                    raise BadRequest(404, "entity_not_found", f"entity {header!r} does not exist")
                self.known.add(header)
            return header
        if self.first is None:
            doc = await self.entities.find_one({}, {"_id": 1}, sort=[("_id", ASCENDING)])
            if doc is None:
                raise BadRequest(404, "entity_not_found", "no entity exists yet")
            self.first = str(doc["_id"])
        return self.first

    async def page(self, request: Any, header: str | None) -> dict[str, Any]:
        if not isinstance(request, dict):
            raise BadRequest(422, "validation_error", "body must be a JSON object")
        limit = request.get("limit", 10)
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            raise BadRequest(422, "validation_error", "limit must be 1..100")
        search = request.get("search")
        query: Document = {"entity_id": await self.entity(header)}
        if isinstance(search, str) and search.strip():
            query["_search"] = {"$regex": re.escape(search.strip()), "$options": "i"}
        find = self.customers.find(
            query, projection=_INTERNAL, sort=[("_id", ASCENDING)], limit=limit + 1
        ).to_list()
        if request.get("include_total_count", True):
            docs, total = await asyncio.gather(find, self.customers.count_documents(query))
        else:
            docs, total = await find, -1
        more = len(docs) > limit
        docs = docs[:limit]
        return {
            "data": [resource(doc) for doc in docs],
            "pagination": {
                "total": total,
                "next_cursor": str(docs[-1]["_id"]) if more else None,
                "prev_cursor": None,
                "has_more": more,
            },
        }


async def main(config: Config, db: AsyncDatabase[Document], stop: asyncio.Event) -> None:
    pages = Pages(db)
    queue = config.topology.query_queue(Resource.CUSTOMER)
    async with channels(config, [queue], confirms=False) as bus:
        replies = bus.publishing.default_exchange

        async def handle(message: AbstractIncomingMessage) -> None:
            try:
                status, body = 200, await pages.page(json.loads(message.body), entity_of(message))
            except ValueError:
                status, body = 422, BadRequest(422, "validation_error", "invalid JSON").body
            except BadRequest as exc:
                status, body = exc.status, exc.body
            if message.reply_to:
                await replies.publish(
                    aio_pika.Message(
                        json.dumps(body).encode(),
                        content_type=CONTENT_TYPE,
                        correlation_id=message.correlation_id or message.message_id,
                        headers={Header.STATUS.value: status},
                    ),
                    message.reply_to,
                    mandatory=False,  # RabbitMQ 3.10 bounces direct reply-to with mandatory
                )
            await message.ack()

        await consume_until(stop, bus.queues, handle)


if __name__ == "__main__":
    serve(main)
