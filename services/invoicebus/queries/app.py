"""The query service: a FastStream app answering every ``<resource>.list`` request."""

from __future__ import annotations

import asyncio
import logging

import aio_pika
from faststream import AckPolicy, FastStream
from faststream.rabbit import Channel, ExchangeType, RabbitMessage, RabbitQueue

from invoicebus_contracts import Resource

from ..adapters.mongo.client import connect
from ..adapters.mongo.reader import Reader
from ..adapters.mongo.store import Store
from ..adapters.rabbit.consuming import exchange, quorum_queue, raw_body
from ..adapters.rabbit.messenger import RabbitMessenger
from ..adapters.rabbit.topology import QUERIES, declare_topology, query_queue_arguments
from ..runtime import configure_logging, make_broker, readiness, serve
from ..settings import Settings
from .consumer import QueryConsumer
from .service import QueryService

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastStream:
    if not settings.mongodb_url:
        raise ValueError("MONGODB_URL is not set (invoicebus run starts an embedded one for you)")
    topology = settings.topology
    broker = make_broker(settings, service="queries", logger=log)
    mongo = connect(settings.mongodb_url)
    db = mongo[settings.database]
    reader = Reader(db)
    consumer = QueryConsumer(QueryService(reader, Store(db)), RabbitMessenger(broker, topology))
    queries = exchange(topology.queries_exchange, ExchangeType.DIRECT)
    # One channel for the list consumers; each consumer's prefetch window bounds how many
    # requests it answers at once.
    channel = Channel(prefetch_count=settings.prefetch)

    for resource in QUERIES:
        queue = quorum_queue(
            topology.query_queue(resource), resource.list_key, query_queue_arguments()
        )

        def bind(resource: Resource, queue: RabbitQueue) -> None:
            @broker.subscriber(
                queue,
                queries,
                channel=channel,
                ack_policy=AckPolicy.MANUAL,
                no_reply=True,
                decoder=raw_body,
            )
            async def handle(body: bytes, msg: RabbitMessage) -> None:
                await consumer.consume(resource, msg)

        bind(resource, queue)

    async def prepare() -> None:
        await reader.ensure_query_indexes()
        connection = await aio_pika.connect(settings.amqp_url)
        async with connection:
            await declare_topology(
                await connection.channel(), topology, delivery_limit=settings.delivery_limit
            )

    async def stop_retrying() -> None:
        consumer.stopping = True

    async def close_mongo() -> None:
        await mongo.close()

    app = FastStream(
        broker,
        logger=log,
        on_startup=[prepare],
        on_shutdown=[stop_retrying],
        after_shutdown=[close_mongo],
    )
    app.context.set_global("mongo", mongo)
    return app


def main() -> None:
    configure_logging()
    settings = Settings()
    app = create_app(settings)
    asyncio.run(serve(app, settings, http_port=settings.query_http_port, ready=readiness(app)))
