"""The query service: a FastStream app answering every ``<resource>.list`` request."""

from __future__ import annotations

import logging

from faststream import FastStream

from invoicebus_contracts import LIST_REPLY_MODELS, REPLAY_KEY

from .. import metrics
from ..access import announce_auth
from ..adapters.mongo.entities import MongoEntities
from ..adapters.mongo.grants import MongoGrants
from ..adapters.mongo.history import MongoEventHistory
from ..adapters.mongo.keys import MongoApiKeys
from ..adapters.mongo.reader import Reader
from ..adapters.rabbit.messenger import RabbitMessenger
from ..runtime import process
from ..runtime.service import Service, connect
from ..settings import Settings
from .bootstrap import bootstrap

log = logging.getLogger(__name__)


def create_service(settings: Settings) -> Service:
    announce_auth(settings, log)
    connections = connect(settings, service="queries", logger=log)
    topology = settings.topology
    reader = Reader(connections.db)
    parts = bootstrap(
        reader=reader,
        history=MongoEventHistory(connections.db),
        messenger=RabbitMessenger(connections.broker, topology),
        entities=MongoEntities(connections.db),
        keys=MongoApiKeys(connections.db),
        settings=settings,
        protected_queues={queue.name for queue in topology.declarations().queues}
        | set(topology.retired_command_queues),
    )
    queues = {resource: topology.query_queue(resource) for resource in LIST_REPLY_MODELS}
    connections.subscribe(queues, parts.lists.consume)
    connections.subscribe({REPLAY_KEY: topology.replay_queue}, parts.replays.consume)

    async def stop_retries() -> None:
        parts.stop()  # requests waiting out an outage go back to the broker

    # entity.list of a restricted sender reads the grants index.
    grants = MongoGrants(connections.db)
    return Service(
        connections,
        logger=log,
        metrics=metrics.QUERY_SERVICE,
        prepare=[reader.ensure_query_indexes, grants.ensure_indexes],
        stopping=[stop_retries],
    )


def create_app(settings: Settings) -> FastStream:
    return create_service(settings).app


def main() -> None:
    process.main(
        create_service, name="queries", http_port=lambda settings: settings.query_http_port
    )
