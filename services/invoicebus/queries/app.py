"""The query service: a FastStream app answering every ``<resource>.list`` request."""

from __future__ import annotations

import asyncio
import logging

from faststream import FastStream

from invoicebus_client.topology import declare_topology_at
from invoicebus_contracts import Resource

from ..adapters.mongo.client import connect
from ..adapters.mongo.entities import MongoEntities
from ..adapters.mongo.reader import Reader
from ..adapters.rabbit.consuming import subscribe_each
from ..adapters.rabbit.messenger import RabbitMessenger
from ..runtime import configure_logging, make_broker, readiness, serve
from ..settings import Settings
from ..tenancy import Tenancy
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
    consumer = QueryConsumer(
        QueryService(reader, Tenancy(MongoEntities(db))), RabbitMessenger(broker, topology)
    )
    subscribe_each(
        broker,
        topology.declarations(settings.delivery_limit),
        {resource: topology.query_queue(resource) for resource in Resource},
        prefetch=settings.prefetch,
        consume=consumer.consume,
    )

    async def prepare() -> None:
        await reader.ensure_query_indexes()
        await declare_topology_at(
            settings.amqp_url, topology, delivery_limit=settings.delivery_limit
        )

    async def stop_retrying() -> None:
        consumer.stop()

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
