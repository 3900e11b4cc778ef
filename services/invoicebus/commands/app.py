"""The command service: a FastStream app consuming every ``<resource>.create`` queue."""

from __future__ import annotations

import asyncio
import logging

from faststream import FastStream

from invoicebus_client.topology import declare_topology_at

from ..adapters.mongo.client import connect
from ..adapters.mongo.entities import MongoEntities
from ..adapters.mongo.store import MongoStore
from ..adapters.rabbit.consuming import subscribe_each
from ..adapters.rabbit.messenger import RabbitMessenger
from ..runtime import configure_logging, make_broker, readiness, serve
from ..settings import Settings
from ..tenancy import Tenancy
from .consumer import CommandConsumer
from .pipeline import CommandPipeline
from .registry import HANDLERS

log = logging.getLogger(__name__)

#: How long stopping waits for a relay round in progress.
RELAY_STOP_SECONDS = 5.0


def create_app(settings: Settings) -> FastStream:
    if not settings.mongodb_url:
        raise ValueError("MONGODB_URL is not set (invoicebus run starts an embedded one for you)")
    topology = settings.topology
    broker = make_broker(settings, service="commands", logger=log)
    mongo = connect(settings.mongodb_url)
    db = mongo[settings.database]
    store = MongoStore(db)
    pipeline = CommandPipeline(
        store, RabbitMessenger(broker, topology), Tenancy(MongoEntities(db)), HANDLERS
    )
    consumer = CommandConsumer(pipeline, settings.transient_retry_seconds)
    subscribe_each(
        broker,
        topology.declarations(settings.delivery_limit),
        {resource: topology.command_queue(resource) for resource in HANDLERS},
        prefetch=settings.prefetch,
        consume=consumer.consume,
    )

    relay: asyncio.Task[None] | None = None
    relay_stop = asyncio.Event()

    async def prepare() -> None:
        await store.ensure_indexes()
        await declare_topology_at(
            settings.amqp_url, topology, delivery_limit=settings.delivery_limit
        )

    async def start_relay() -> None:
        nonlocal relay
        relay = asyncio.create_task(
            pipeline.outbox.run(
                settings.relay_interval_seconds, settings.relay_grace_seconds, relay_stop
            )
        )

    async def stop_retries() -> None:
        consumer.stop()  # retries end: their messages go back to the broker

    async def stop_relay() -> None:
        relay_stop.set()
        if relay is not None:
            relay.cancel()
            # Bounded: a round stuck on a vanished database must not hold up the shutdown.
            await asyncio.wait({relay}, timeout=RELAY_STOP_SECONDS)

    async def close_mongo() -> None:
        await mongo.close()

    app = FastStream(
        broker,
        logger=log,
        on_startup=[prepare],
        after_startup=[start_relay],
        on_shutdown=[stop_retries, stop_relay],
        after_shutdown=[close_mongo],
    )
    app.context.set_global("pipeline", pipeline)
    app.context.set_global("mongo", mongo)
    return app


def main() -> None:
    configure_logging()
    settings = Settings()
    app = create_app(settings)
    asyncio.run(serve(app, settings, http_port=settings.command_http_port, ready=readiness(app)))
