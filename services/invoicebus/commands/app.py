"""The command service: a FastStream app consuming every command shard queue."""

from __future__ import annotations

import logging

from faststream import FastStream

from .. import metrics
from ..access import announce_auth
from ..adapters.mongo.entities import MongoEntities
from ..adapters.mongo.keys import MongoApiKeys
from ..adapters.mongo.store import MongoStore
from ..adapters.rabbit.messenger import RabbitMessenger
from ..adapters.rabbit.retiring import retire_command_queues
from ..runtime import process
from ..runtime.service import Service, connect
from ..settings import Settings
from .bootstrap import bootstrap

log = logging.getLogger(__name__)


def create_service(settings: Settings) -> Service:
    announce_auth(settings, log)
    connections = connect(settings, service="commands", logger=log)
    topology = settings.topology
    store = MongoStore(connections.db)
    commands = bootstrap(
        store=store,
        messenger=RabbitMessenger(connections.broker, topology),
        entities=MongoEntities(connections.db),
        keys=MongoApiKeys(connections.db),
        settings=settings,
    )
    # Every shard carries every command type; the consumer reads the type off the routing key
    # (and writes entity.create and customer.create in batches).
    connections.subscribe(
        {name: name for name in topology.command_queues}, commands.batching.consume
    )

    async def retire_old_queues() -> None:
        # After the declaration, so every command has a shard to go to before any old queue
        # stops receiving them; the ones still holding commands are drained like shards.
        draining = await retire_command_queues(settings.amqp_url, topology)
        connections.subscribe_existing(draining, commands.batching.consume)

    return Service(
        connections,
        logger=log,
        metrics=metrics.COMMAND_SERVICE,
        prepare=[store.ensure_indexes],
        declared=[retire_old_queues],
        started=[commands.relay.start],
        # Two hooks: retries end (their messages go back to the broker), the relay stops.
        stopping=[commands.stop_retries, commands.relay.stop],
    )


def create_app(settings: Settings) -> FastStream:
    return create_service(settings).app


def main() -> None:
    process.main(
        create_service, name="commands", http_port=lambda settings: settings.command_http_port
    )
