"""The client SDK against the real broker and services: typed results, concurrent requests on
one connection, and retries that keep the command's id, so it counts once."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest

from invoicebus.settings import Settings
from invoicebus_client import BrokerRefused, ErrorReply, InvoicebusClient
from invoicebus_contracts import (
    CreateItem,
    Customer,
    ErrorBody,
    ErrorCode,
    Item,
    ListReply,
    Resource,
)

pytestmark = pytest.mark.usefixtures("command_service")


class CuttingProxy:
    """A TCP proxy to the broker that drops the connection right after forwarding the first
    client chunk that contains ``marker``: the publish reaches the broker, its confirm never
    comes back."""

    def __init__(self, host: str, port: int, marker: bytes) -> None:
        self.target = (host, port)
        self.marker = marker
        self.cuts = 0
        self.connections = 0
        self.server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
                if upstream and self.cuts == 0 and self.marker in data:
                    self.cuts += 1
                    break
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        up = asyncio.create_task(self._pipe(reader, up_writer, upstream=True))
        down = asyncio.create_task(self._pipe(up_reader, writer, upstream=False))
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        up_writer.close()
        writer.close()


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[tuple[CuttingProxy, str]]:
    parsed = urlparse(settings.amqp_url)
    marker = uuid.uuid4().hex.encode()
    cutter = CuttingProxy(parsed.hostname or "127.0.0.1", parsed.port or 5672, marker)
    cutter.server = await asyncio.start_server(cutter._handle, "127.0.0.1", 0)
    netloc = f"{parsed.username}:{parsed.password}@127.0.0.1:{cutter.port}"
    async with cutter.server:
        yield cutter, urlunparse(parsed._replace(netloc=netloc))


async def test_a_publish_cut_off_before_its_confirm_is_retried_and_counts_once(
    settings: Settings, proxy: tuple[CuttingProxy, str], entity: dict[str, Any], db: Any
) -> None:
    cutter, url = proxy
    name = f"Cut {cutter.marker.decode()}"
    async with InvoicebusClient(url, settings.prefix, entity_id=entity["id"]) as client:
        reply = await client.create(Resource.CUSTOMER, {"name": name}, reply_timeout=30)

    assert cutter.cuts == 1
    assert cutter.connections == 2  # the retry reconnected
    assert reply.name == name
    stored = await db.customers.find({"name": name}).to_list()
    assert [doc["_id"] for doc in stored] == [reply.id]


@pytest.mark.usefixtures("query_service")
async def test_concurrent_creates_and_lists_on_one_client_each_get_their_own_reply(
    settings: Settings, entity: dict[str, Any]
) -> None:
    """Creates and lists in flight at once on one connection, some creates sharing a
    message_id: each call gets the reply to its own request, typed with the contract."""
    tag = uuid.uuid4().hex[:8]
    names = [f"Concurrent {tag} {i}" for i in range(40)]
    shared = f"shared-{tag}"
    async with InvoicebusClient(settings.amqp_url, settings.prefix, entity_id=entity["id"]) as c:
        creates = [c.create(Resource.CUSTOMER, {"name": name}) for name in names]
        twins = [c.create(Resource.CUSTOMER, {"name": "Twin"}, message_id=shared) for _ in "ab"]
        lists = [c.list(Resource.CUSTOMER, {"search": tag, "limit": 5}) for _ in range(10)]
        customers, (first_twin, second_twin), pages = await asyncio.gather(
            asyncio.gather(*creates), asyncio.gather(*twins), asyncio.gather(*lists)
        )

        assert all(isinstance(c, Customer) for c in customers)
        assert [c.name for c in customers] == names  # each create got its own reply
        assert len({c.id for c in customers}) == len(names)
        assert first_twin == second_twin  # one message_id, one customer
        assert all(isinstance(p, ListReply) for p in pages)
        assert all(len(p.data) <= 5 and p.pagination.total <= len(names) for p in pages)

        every = [c.name async for c in c.iterate_all(Resource.CUSTOMER, {"search": tag})]
        assert sorted(every) == sorted(names)

        with pytest.raises(ErrorReply) as refused:
            await c.create(Resource.CUSTOMER, {"name": "X", "country_code": "XX"})
    assert refused.value.status == 422
    assert isinstance(refused.value.body, ErrorBody)
    assert refused.value.body.error.code is ErrorCode.VALIDATION_ERROR
    assert refused.value.errors[0].loc == ["country_code"]
    assert "Value error" not in refused.value.message


async def test_a_contract_model_is_a_body_and_the_created_resource_comes_back_typed(
    settings: Settings, entity: dict[str, Any]
) -> None:
    body = CreateItem.model_validate(
        {"name": "Typed", "price": Decimal("2.50"), "taxes": [{"rate": 22}]}
    )
    async with InvoicebusClient(settings.amqp_url, settings.prefix, entity_id=entity["id"]) as c:
        item = await c.create(Resource.ITEM, body)
    assert isinstance(item, Item)
    assert (item.price, item.total_tax) == (Decimal("2.5"), Decimal("0.55"))
    assert item.entity_id == entity["id"]


async def test_a_client_for_a_prefix_nobody_declared_is_refused_at_once(
    settings: Settings,
) -> None:
    with pytest.raises(BrokerRefused, match="does not exist"):
        async with InvoicebusClient(settings.amqp_url, f"{settings.prefix}-nobody"):
            pass
