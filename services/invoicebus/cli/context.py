"""The global options (broker, prefix, entity), as every command receives them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from invoicebus_client import InvoicebusClient

from ..settings import Settings
from .output import run

T = TypeVar("T")


@dataclass
class Context:
    settings: Settings
    entity_id: str | None

    def client(self) -> InvoicebusClient:
        return InvoicebusClient(
            self.settings.amqp_url,
            self.settings.prefix,
            entity_id=self.entity_id,
            delivery_limit=self.settings.delivery_limit,
        )

    def call(self, action: Callable[[InvoicebusClient], Awaitable[T]]) -> T:
        """``action`` on a connected client, closed afterwards; client errors exit the CLI."""

        async def connected() -> T:
            async with self.client() as client:
                return await action(client)

        return run(connected())
