"""What the services ask of messaging, independent of the messaging library.

``Envelope`` is a received command or list request, ``Messenger`` the ways to answer one and to
announce what happened, ``Delivery`` the ways to settle it with the broker. ``OutgoingEvent``
is an event as it travels, and ``created_event`` the one way a stored record's event is made,
whether it goes out live, through the outbox relay, or replayed. The RabbitMQ
adapter (``adapters/rabbit``) turns FastStream messages into envelopes and implements the
protocols; the unit tests fake them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from invoicebus_contracts import ErrorBody, ErrorCode, ErrorDetail, error_body
from invoicebus_contracts.text import shown
from invoicebus_contracts.wire import encode

from .domain.records import Record


@dataclass(frozen=True)
class Envelope:
    """A received command or query: its body and the AMQP properties the services read."""

    routing_key: str
    body: bytes
    message_id: str | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    #: The ``x-entity-id`` header as text; None only when the message has no such header.
    entity_id: str | None = None
    headers: dict[str, Any] | None = None
    exchange: str = ""
    #: Its other AMQP properties that a dead-letter copy keeps: content_type,
    #: content_encoding and type, the ones that are set.
    properties: dict[str, str] = field(default_factory=dict)
    #: Where its properties or header names hold bytes that are not UTF-8, as in
    #: ``errors[].loc``. The fields above keep such bytes as surrogate escapes, so a dead-letter
    #: copy is the original; whatever the services say about it uses ``shown`` values.
    undecodable: tuple[tuple[str | int, ...], ...] = ()
    #: The sender, as RabbitMQ checked it against the connection's user (None if unset).
    user_id: str | None = None

    @property
    def shown_id(self) -> str | None:
        """``message_id`` for logs and events: UTF-8, undecodable bytes as ``\\xNN``."""
        return None if self.message_id is None else shown(self.message_id)

    def header(self, name: str) -> str | None:
        """A text header's value (bytes decoded), or None when absent or not text."""
        value = (self.headers or {}).get(name)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        return value if isinstance(value, str) and value else None

    @property
    def reply_correlation_id(self) -> str | None:
        # A client that sets only message_id still gets a reply it can match. A reply carries
        # UTF-8 only: an id that is not gets its bytes escaped.
        found = self.correlation_id or self.message_id
        return None if found is None else shown(found)

    @property
    def reply_address(self) -> str | None:
        """Where to reply: ``reply_to``, unless it is not UTF-8 (RabbitMQ refuses such queue
        names, so it names no queue)."""
        return None if ("reply_to",) in self.undecodable else self.reply_to


def undecodable_error(envelope: Envelope) -> ErrorBody | None:
    """The refusal of a command or list request whose properties or header names are not UTF-8
    text (RabbitMQ lets any bytes through); None when they all are."""
    if not envelope.undecodable:
        return None
    named = envelope.undecodable[:_NAMED_AT_MOST]
    places = ", ".join(_place(loc) for loc in named)
    if more := len(envelope.undecodable) - len(named):
        places += f" and {more} more"
    return error_body(
        ErrorCode.VALIDATION_ERROR,
        f"invalid {places}: not UTF-8 text (AMQP properties and header names must be UTF-8)",
        [ErrorDetail(loc=list(loc), msg="not UTF-8 text") for loc in named],
    )


#: A message may carry thousands of header names; the refusal names the first few.
_NAMED_AT_MOST = 10


def _place(loc: tuple[str | int, ...]) -> str:
    """``message_id``, or ``headers "k\\xff"`` (names shown escaped already)."""
    first, *rest = loc
    return " ".join([str(first), *(f"[{p}]" if isinstance(p, int) else f'"{p}"' for p in rest)])


@dataclass(frozen=True)
class OutgoingEvent:
    """An event as it travels: its type (the routing key), its id (the AMQP ``message_id``),
    the command it correlates with, its entity, and its body."""

    type: str
    id: str
    correlation_id: str | None
    entity_id: str | None
    body: bytes


def created_event(record: Record[Any]) -> OutgoingEvent:
    """The ``created`` event a stored record carries: the same id, correlation and body each
    time it is sent (live, relayed or replayed), so subscribers can deduplicate on the id."""
    event = record.event
    return OutgoingEvent(
        event.type, event.id, event.correlation_id, record.entity_id, encode(record.model)
    )


class Messenger(Protocol):
    """Confirmed publishing: each call returns once the broker took the message."""

    async def publish_event(
        self,
        event_type: str,
        body: bytes,
        *,
        event_id: str,
        correlation_id: str | None,
        entity_id: str | None,
        tenant_entity: str | None,
    ) -> None:
        """Publish an event on the events exchange, and for the tenant of ``tenant_entity``
        too (under an entity-qualified key) when it is given."""
        ...

    async def reply(self, envelope: Envelope, status: int, body: bytes) -> None: ...

    async def dead_letter(self, envelope: Envelope, error: ErrorBody) -> None: ...


class Delivery(Protocol):
    """One delivery of a message, as far as settling it goes."""

    @property
    def channel_closed(self) -> bool: ...

    async def ack(self) -> None: ...

    async def nack(self, *, requeue: bool) -> None: ...

    async def reject(self) -> None: ...
