"""What the services ask of messaging, independent of the messaging library.

``Envelope`` is a received command or list request, ``Messenger`` the ways to answer one and to
announce what happened, ``Delivery`` the ways to settle it with the broker. The RabbitMQ
adapter (``adapters/rabbit``) turns FastStream messages into envelopes and implements the
protocols; the unit tests fake them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from invoicebus_contracts import ErrorBody


@dataclass(frozen=True)
class Envelope:
    """A received command or query: its body and the AMQP properties the services read."""

    routing_key: str
    body: bytes
    message_id: str | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    entity_id: str | None = None
    headers: dict[str, Any] | None = None
    exchange: str = ""

    @property
    def reply_correlation_id(self) -> str | None:
        # A client that sets only message_id still gets a reply it can match.
        return self.correlation_id or self.message_id


class Messenger(Protocol):
    """Confirmed publishing: each call returns once the broker took the message."""

    async def publish_event(
        self, event_type: str, body: bytes, *, event_id: str, correlation_id: str | None,
        entity_id: str | None,
    ) -> None: ...  # fmt: skip

    async def reply(self, envelope: Envelope, status: int, body: bytes) -> None: ...

    async def dead_letter(self, envelope: Envelope, error: ErrorBody) -> None: ...


class Delivery(Protocol):
    """One delivery of a message, as far as settling it goes."""

    @property
    def channel_closed(self) -> bool: ...

    async def ack(self) -> None: ...

    async def nack(self, *, requeue: bool) -> None: ...

    async def reject(self) -> None: ...
