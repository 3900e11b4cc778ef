"""The global options (broker, prefix, entity), as every command receives them.

The settings and the SDK are loaded when a command first needs them, not before: ``--help``
and usage errors pay for neither.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from .output import EXIT_INTERRUPTED, run

if TYPE_CHECKING:
    from invoicebus_client import InvoicebusClient

    from ..settings import Settings

T = TypeVar("T")


@dataclass
class Context:
    amqp_url: str | None
    prefix: str | None
    entity_id: str | None

    @cached_property
    def settings(self) -> Settings:
        from ..settings import Settings

        given = {"amqp_url": self.amqp_url, "prefix": self.prefix}
        overrides: dict[str, Any] = {k: v for k, v in given.items() if v}
        return Settings(**overrides)

    def client(self) -> InvoicebusClient:
        from invoicebus_client import InvoicebusClient

        # The services declare the topology; the CLI checks it exists, so a mistyped prefix
        # fails at once instead of leaving commands in queues nobody consumes.
        return InvoicebusClient(
            self.settings.amqp_url, self.settings.prefix, entity_id=self.entity_id
        )

    def call(
        self,
        action: Callable[[InvoicebusClient], Awaitable[T]],
        *,
        interrupted: Callable[[], str] | None = None,
        interrupt_code: int = EXIT_INTERRUPTED,
    ) -> T:
        """``action`` on a connected client, closed afterwards; client errors exit the CLI.
        On Ctrl-C, ``interrupted`` says what became of the request, and the CLI exits with
        ``interrupt_code``."""

        async def connected() -> T:
            async with self.client() as client:
                return await action(client)

        return run(connected(), interrupted=interrupted, interrupt_code=interrupt_code)
