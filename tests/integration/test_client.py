"""The client SDK under a broken connection: retries keep the command's id, so it counts once."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest

from invoicebus.settings import Settings
from invoicebus_client import InvoicebusClient
from invoicebus_contracts import Resource

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
    assert reply.status == 201
    assert reply.body["name"] == name
    stored = await db.customers.find({"name": name}).to_list()
    assert [doc["_id"] for doc in stored] == [reply.body["id"]]
