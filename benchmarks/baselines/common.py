"""What the hand-written servers share: settings, connections, the customer document and its
JSON, and running until SIGTERM.

They read the services' own environment variables (``AMQP_URL``, ``MONGODB_URL``,
``INVOICEBUS_PREFIX``, ``INVOICEBUS_DATABASE``, ``INVOICEBUS_PREFETCH``), so the harness starts
every server under test the same way. They use the broker topology the services declare
(they declare nothing themselves) and the same event loop (asyncio's default) and JSON
library (the standard ``json`` module) as the services.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from invoicebus_contracts import (
    CONTENT_TYPE,
    DEFAULT_PREFIX,
    CreateCustomer,
    Customer,
    Header,
    Resource,
    Topology,
)

Document = dict[str, Any]

#: The collections the services store customers and entities in. The RPC baseline reads the
#: documents the command service wrote, so these (and the document layout below: ``_id`` for
#: ``id``, ``entity_id``, the ``_search`` array, internal fields prefixed with ``_``) must
#: match the service's storage; the harness checks both servers return the same pages.
CUSTOMERS = "customers"
ENTITIES = "entities"

#: The fields a customer.create body may set (besides metadata), from the contract.
_COMMAND_FIELDS = tuple(f for f in CreateCustomer.model_fields if f != "metadata")
#: The fields of a customer as it travels, in the contract's order.
_RESOURCE_FIELDS = tuple(Customer.model_fields)


@dataclass(frozen=True)
class Config:
    amqp_url: str
    mongodb_url: str
    database: str
    topology: Topology
    prefetch: int

    @classmethod
    def from_env(cls) -> Config:
        env = os.environ
        return cls(
            amqp_url=env.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
            mongodb_url=env["MONGODB_URL"],
            database=env.get("INVOICEBUS_DATABASE", "invoicebus"),
            topology=Topology(env.get("INVOICEBUS_PREFIX", DEFAULT_PREFIX)),
            prefetch=int(env.get("INVOICEBUS_PREFETCH", "16")),
        )


Main = Callable[[Config, AsyncDatabase[Document], asyncio.Event], Awaitable[None]]
Handler = Callable[[AbstractIncomingMessage], Awaitable[None]]


def serve(main: Main) -> None:
    """Run ``main(config, db, stop)`` until SIGTERM or SIGINT sets ``stop``."""

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        config = Config.from_env()
        mongo: AsyncMongoClient[Document] = AsyncMongoClient(config.mongodb_url, tz_aware=True)
        try:
            await main(config, mongo[config.database], stop)
        finally:
            await mongo.close()

    asyncio.run(run())


@dataclass(frozen=True)
class Channels:
    #: On a consuming channel with the prefetch window (per consumer, so per queue).
    queues: tuple[AbstractQueue, ...]
    publishing: AbstractChannel  # a channel of its own for what the server publishes


@asynccontextmanager
async def channels(
    config: Config, queues: Sequence[str], *, confirms: bool
) -> AsyncIterator[Channels]:
    """A connection with ``queues`` to consume and a channel to publish on (with publisher
    confirms when ``confirms``), closed at the end of the block."""
    connection = await aio_pika.connect_robust(config.amqp_url)
    async with connection:
        consuming = await connection.channel()
        await consuming.set_qos(prefetch_count=config.prefetch)
        publishing = await connection.channel(publisher_confirms=confirms)
        found = [await consuming.get_queue(queue, ensure=False) for queue in queues]
        yield Channels(tuple(found), publishing)


async def consume_until(
    stop: asyncio.Event, queues: Sequence[AbstractQueue], handle: Handler
) -> None:
    """Hand every delivery of ``queues`` to ``handle`` (each in a task of its own) until
    ``stop`` is set."""
    tags = [(queue, await queue.consume(handle)) for queue in queues]
    await stop.wait()
    for queue, tag in tags:
        await queue.cancel(tag)


def entity_of(message: AbstractIncomingMessage) -> str | None:
    value = (message.headers or {}).get(Header.ENTITY_ID.value)
    if isinstance(value, bytes):
        value = value.decode()
    return str(value) if value else None


def customer_document(body: bytes, entity_id: str | None, now: datetime) -> Document | None:
    """The document of a ``customer.create`` body, or None when it is not even minimally valid
    (a JSON object with a non-empty string ``name``). Unknown fields are left out."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
        return None
    metadata = data.get("metadata")
    return {
        "_id": f"{Resource.CUSTOMER.id_prefix}_{ObjectId()}",
        **{field: data.get(field) for field in _COMMAND_FIELDS},
        "entity_id": entity_id,
        "metadata": metadata if isinstance(metadata, dict) else {},
        "created_at": now,
        "updated_at": now,
    }


def timestamp(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds and ``Z``, as the contract writes timestamps."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def resource(doc: Document) -> dict[str, Any]:
    """A stored customer as it travels: every contract field, in order, null when unset."""
    out: dict[str, Any] = {}
    for field in _RESOURCE_FIELDS:
        value = doc["_id"] if field == "id" else doc.get(field)
        out[field] = timestamp(value) if isinstance(value, datetime) else value
    return out


def created_event(doc: Document, command_id: str | None) -> aio_pika.Message:
    """The ``customer.created`` event of a stored document, as the contract describes it."""
    headers: dict[str, Any] = {Header.EVENT_TYPE.value: Resource.CUSTOMER.created_key}
    if doc.get("entity_id"):
        headers[Header.ENTITY_ID.value] = doc["entity_id"]
    return aio_pika.Message(
        json.dumps(resource(doc)).encode(),
        content_type=CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=f"evt_{ObjectId()}",
        correlation_id=command_id,
        headers=headers,
    )
