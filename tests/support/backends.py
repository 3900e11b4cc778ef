"""Choosing the real RabbitMQ and Mongo-wire servers the tests talk to.

Order: ``AMQP_URL`` / ``MONGODB_URL`` when set; else testcontainers (official ``rabbitmq`` and
``mongo`` images) when a Docker engine answers; else RabbitMQ on localhost and a SecantusDB
started here on a free port. A server that can't be reached fails the run: it is never a skip.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from invoicebus.adapters.mongo.embedded import EmbeddedMongo

LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"


@dataclass
class Backends:
    amqp_url: str
    mongodb_url: str
    amqp_source: str
    mongodb_source: str
    #: The embedded server, when the tests own it (fault tests stop and start it).
    embedded_mongo: EmbeddedMongo | None = None


def docker_available() -> bool:
    with suppress(Exception):
        import docker

        docker.from_env(timeout=3).ping()
        return True
    return False


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    with suppress(OSError), socket.create_connection((parsed.hostname, parsed.port or 5672), 3):
        return True
    return False


@contextmanager
def backends() -> Iterator[Backends]:
    docker = (
        None if os.environ.get("AMQP_URL") and os.environ.get("MONGODB_URL") else docker_available()
    )
    with _amqp(docker) as (amqp_url, amqp_source), _mongo(docker) as (mongo_url, source, embedded):
        yield Backends(amqp_url, mongo_url, amqp_source, source, embedded)


@contextmanager
def _amqp(docker: bool | None) -> Iterator[tuple[str, str]]:
    if url := os.environ.get("AMQP_URL"):
        yield url, "AMQP_URL"
    elif docker:
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:4-management") as rabbit:
            params = rabbit.get_connection_params()
            yield f"amqp://guest:guest@{params.host}:{params.port}/", "testcontainers rabbitmq:4"
    else:
        if not _reachable(LOCAL_AMQP):
            raise RuntimeError(
                "no RabbitMQ: set AMQP_URL, run Docker, or start one on localhost:5672"
                " (rabbitmq-server -detached)"
            )
        yield LOCAL_AMQP, "RabbitMQ on localhost:5672"


@contextmanager
def _mongo(docker: bool | None) -> Iterator[tuple[str, str, EmbeddedMongo | None]]:
    if url := os.environ.get("MONGODB_URL"):
        yield url, "MONGODB_URL", None
    elif docker:
        from testcontainers.mongodb import MongoDbContainer

        with MongoDbContainer("mongo:8") as mongo:
            yield mongo.get_connection_url(), "testcontainers mongo:8", None
    else:
        with tempfile.TemporaryDirectory(prefix="invoicebus-secantus-") as tmp:
            server = EmbeddedMongo(Path(tmp) / "db", log_path=Path(tmp) / "secantus.log")
            server.start()
            try:
                yield server.url, f"SecantusDB on port {server.port}", server
            finally:
                server.stop()
