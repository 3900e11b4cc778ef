"""Events as a subscriber sees them (anyone may publish to the events exchange, so text that
is not UTF-8 is shown escaped)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from invoicebus_contracts import Header

from .decoding import json_or_text, text


@dataclass(frozen=True)
class Event:
    type: str
    id: str | None
    entity_id: str | None
    correlation_id: str | None
    body: Any
    #: The W3C trace context to continue the event's trace from: the receive span's when
    #: tracing is on, else the one the event carried (None when it carried none).
    traceparent: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def event_from(message: AbstractIncomingMessage, traceparent: str | None = None) -> Event:
    headers = message.headers or {}
    return Event(
        type=text(headers.get(Header.EVENT_TYPE.value)) or text(message.routing_key) or "",
        id=text(message.message_id),
        entity_id=text(headers.get(Header.ENTITY_ID.value)),
        correlation_id=text(message.correlation_id),
        body=json_or_text(message.body),
        traceparent=traceparent,
    )
