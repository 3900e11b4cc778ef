"""The command service: a FastStream app consuming every ``<resource>.create`` queue."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

import aio_pika
from faststream import AckPolicy, FastStream
from faststream.rabbit import Channel, ExchangeType, RabbitMessage, RabbitQueue

from invoicebus_contracts import Resource

from ..adapters.mongo.client import connect
from ..adapters.mongo.store import Store
from ..adapters.rabbit.consuming import exchange, quorum_queue, raw_body
from ..adapters.rabbit.messenger import RabbitMessenger
from ..adapters.rabbit.topology import command_queue_arguments, declare_topology
from ..runtime import configure_logging, make_broker, readiness, serve
from ..settings import Settings
from .consumer import CommandConsumer
from .pipeline import CommandPipeline
from .registry import COMMANDS

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastStream:
    if not settings.mongodb_url:
        raise ValueError("MONGODB_URL is not set (invoicebus run starts an embedded one for you)")
    topology = settings.topology
    broker = make_broker(settings, service="commands", logger=log)
    mongo = connect(settings.mongodb_url)
    store = Store(mongo[settings.database])
    pipeline = CommandPipeline(store, RabbitMessenger(broker, topology), COMMANDS)
    consumer = CommandConsumer(pipeline, settings.transient_retry_seconds)
    commands = exchange(topology.commands_exchange, ExchangeType.TOPIC)
    arguments = command_queue_arguments(topology, settings.delivery_limit)
    # Without a prefetch window the broker would push a whole backlog at once, and every
    # message would be handled concurrently: the window bounds work in flight per queue.
    channel = Channel(prefetch_count=settings.prefetch)

    for resource in COMMANDS:
        queue = quorum_queue(topology.command_queue(resource), resource.create_key, arguments)

        def bind(resource: Resource, queue: RabbitQueue) -> None:
            @broker.subscriber(
                queue,
                commands,
                channel=channel,
                ack_policy=AckPolicy.MANUAL,
                no_reply=True,
                decoder=raw_body,
            )
            async def handle(body: bytes, msg: RabbitMessage) -> None:
                await consumer.consume(resource, msg)

        bind(resource, queue)

    relay: asyncio.Task[None] | None = None

    async def prepare() -> None:
        await store.ensure_indexes()
        connection = await aio_pika.connect(settings.amqp_url)
        async with connection:
            await declare_topology(
                await connection.channel(), topology, delivery_limit=settings.delivery_limit
            )

    async def start_relay() -> None:
        nonlocal relay
        relay = asyncio.create_task(
            pipeline.outbox.run(settings.relay_interval_seconds, settings.relay_grace_seconds)
        )

    async def stop_relay() -> None:
        consumer.stop()  # retries end: their messages go back to the broker
        if relay is not None:
            relay.cancel()
            with suppress(asyncio.CancelledError):
                await relay

    async def close_mongo() -> None:
        await mongo.close()

    app = FastStream(
        broker,
        logger=log,
        on_startup=[prepare],
        after_startup=[start_relay],
        on_shutdown=[stop_relay],
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
