"""What a service is made of, the same way for both: its connections and its FastStream app.

``connect`` makes the process's connections once (the broker with its metrics registry, and
MongoDB); the service's ``bootstrap`` builds its parts from them; ``Service`` wraps those parts
in a FastStream app whose hooks run in this order:

1. on start: the service's ``prepare`` steps (indexes), then the topology is declared, then
   the ``declared`` steps (which may still add subscribers: the broker starts after them);
2. once consuming: the ``started`` steps (the outbox relay);
3. on stop, before the broker drains in-flight messages: the ``stopping`` steps;
4. after the broker stopped: MongoDB is closed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from faststream import FastStream
from faststream.rabbit import RabbitBroker
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from invoicebus_client.topology import declare_topology_at

from ..adapters.mongo import client as mongo_client
from ..adapters.rabbit.consuming import Consume, K, subscribe_each, subscribe_existing
from ..querying.fields import Document
from ..settings import Settings
from . import tracing
from .broker import broker_metrics, make_broker
from .progress import Progress

Hook = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Connections:
    """The process's connections, made once and handed to whatever needs them."""

    settings: Settings
    broker: RabbitBroker
    #: The broker's message metrics (FastStream's middleware); /metrics serves them.
    broker_metrics: CollectorRegistry
    mongo: AsyncMongoClient[Document]
    #: What the consumers settled, and when: /readyz tells a stalled consumer by it.
    progress: Progress

    @property
    def db(self) -> AsyncDatabase[Document]:
        return self.mongo[self.settings.database]

    def subscribe(self, queues: Mapping[K, str], consume: Consume[K]) -> None:
        """Consume each of the contract's queues named in ``queues`` with ``consume``."""
        settings = self.settings
        declarations = settings.topology.declarations(settings.delivery_limit)
        subscribe_each(
            self.broker,
            declarations,
            queues,
            prefetch=settings.prefetch,
            consume=consume,
            settled=self.progress.settled,
        )

    def subscribe_existing(self, queues: Sequence[str], consume: Consume[str]) -> None:
        """Consume queues outside the contract that exist already (retired command queues)."""
        subscribe_existing(
            self.broker,
            {name: name for name in queues},
            prefetch=self.settings.prefetch,
            consume=consume,
            settled=self.progress.settled,
        )


def connect(settings: Settings, *, service: str, logger: logging.Logger) -> Connections:
    """Clients for the broker and MongoDB (they connect when the app starts)."""
    if not settings.mongodb_url:
        raise ValueError("MONGODB_URL is not set (invoicebus run starts an embedded one for you)")
    registry = broker_metrics()
    broker = make_broker(settings, service=service, logger=logger, metrics=registry)
    mongo = mongo_client.connect(settings.mongodb_url, tracing.mongo_listeners())
    return Connections(settings, broker, registry, mongo, Progress(settings.stall_seconds))


class Service:
    """A wired service: its FastStream app, and the connections the process looks after."""

    def __init__(
        self,
        connections: Connections,
        *,
        logger: logging.Logger,
        metrics: CollectorRegistry,
        prepare: Sequence[Hook] = (),
        declared: Sequence[Hook] = (),
        started: Sequence[Hook] = (),
        stopping: Sequence[Hook] = (),
    ) -> None:
        self.connections = connections
        #: The service's own series (``invoicebus.metrics``), which its /metrics serves.
        self.metrics = metrics
        self.app = FastStream(
            connections.broker,
            logger=logger,
            on_startup=[*prepare, self._declare_topology, *declared],
            after_startup=list(started),
            on_shutdown=list(stopping),
            after_shutdown=[self._close_mongo],
        )

    async def _declare_topology(self) -> None:
        settings = self.connections.settings
        await declare_topology_at(
            settings.amqp_url, settings.topology, delivery_limit=settings.delivery_limit
        )

    async def _close_mongo(self) -> None:
        await self.connections.mongo.close()
