"""Shared fixtures: real servers, a per-run topology prefix and database, the services."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aio_pika
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from invoicebus.adapters.mongo.client import connect
from invoicebus.querying.fields import Document
from invoicebus.settings import AuthMode, Settings
from invoicebus_client.topology import declare_topology, delete_topology
from tests.support.amqp import RawClient
from tests.support.backends import Backends, backends

RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def servers() -> Iterator[Backends]:
    with backends() as found:
        print(f"\nRabbitMQ: {found.amqp_source}; MongoDB: {found.mongodb_source}")
        yield found


@pytest.fixture(scope="session")
def settings(servers: Backends) -> Settings:
    """Settings of this test run: its own topology prefix and database."""
    return Settings(
        amqp_url=servers.amqp_url,
        mongodb_url=servers.mongodb_url,
        prefix=f"ibtest-{RUN_ID}",
        # The suite's clients send no user_id; tests/integration/test_access.py runs its own
        # services with authorization required.
        auth=AuthMode.OFF,
        database=f"ibtest_{RUN_ID}",
        command_http_port=0,
        query_http_port=0,
        relay_interval_seconds=1.0,
        relay_grace_seconds=2.0,
        transient_retry_seconds=30.0,
    )


@pytest.fixture(scope="session")
async def topology(settings: Settings) -> AsyncIterator[None]:
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        await declare_topology(channel, settings.topology, delivery_limit=settings.delivery_limit)
        yield
        await delete_topology(await connection.channel(), settings.topology)


@pytest.fixture(scope="session")
async def db(settings: Settings) -> AsyncIterator[AsyncDatabase[Document]]:
    assert settings.mongodb_url
    client = connect(settings.mongodb_url)
    yield client[settings.database]
    await client.drop_database(settings.database)
    await client.close()


@pytest.fixture(scope="session")
async def command_service(settings: Settings, topology: None) -> AsyncIterator[Any]:
    """The command service, running in this event loop against the real servers."""
    from invoicebus.commands.app import create_app

    app = create_app(settings)
    await app.start()
    yield app
    await app.stop()


@pytest.fixture(scope="session")
async def client(settings: Settings, topology: None) -> AsyncIterator[RawClient]:
    async with RawClient(settings.amqp_url, settings.prefix) as raw:
        yield raw


@pytest.fixture
async def entity(client: RawClient, command_service: Any) -> dict[str, Any]:
    """A fresh entity per test: tests scope their data to it and never see each other's."""
    reply = await client.command("entity.create", {"name": f"Test Entity {uuid.uuid4().hex[:6]}"})
    assert reply.status == 201, reply.body
    body: dict[str, Any] = reply.body
    return body


@pytest.fixture(scope="session")
async def query_service(settings: Settings, topology: None) -> AsyncIterator[Any]:
    """The query service, running in this event loop against the real servers."""
    from invoicebus.queries.app import create_app

    app = create_app(settings)
    await app.start()
    yield app
    await app.stop()
