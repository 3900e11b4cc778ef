"""Traces across the bus: each publish carries its span's W3C trace context in the AMQP
headers (``traceparent``, ``tracestate``), which the services continue, and each event
received continues the context it carries.

Only the OpenTelemetry API is used, and it is off until the application installs an SDK
(``opentelemetry.trace.set_tracer_provider``, or a ``tracer_provider`` given to the client):
until then no span is made and nothing is written into the headers, which costs a type check
per message. The API is not even imported until the application has imported it: nothing can
have installed an SDK before that.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from aio_pika.abc import AbstractIncomingMessage

from invoicebus_contracts import Header
from invoicebus_contracts.text import shown

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

TRACEPARENT = Header.TRACEPARENT.value
SYSTEM = {"messaging.system": "rabbitmq"}
#: What a span is while tracing is off.
_OFF: AbstractContextManager[None] = nullcontext()


class Tracing:
    """The client's spans, from ``tracer_provider`` (the global one when None)."""

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self._provider = tracer_provider
        self._tracer: Tracer | None = None

    def _on(self) -> Tracer | None:
        """The tracer, when something records its spans (asked each time: the application
        may install its SDK after making the client)."""
        if self._tracer is None:
            provider = self._provider
            if provider is None:
                if (api := sys.modules.get("opentelemetry.trace")) is None:
                    return None  # not even imported: nothing can be installed
                provider = api.get_tracer_provider()
                if isinstance(provider, (api.ProxyTracerProvider, api.NoOpTracerProvider)):
                    return None  # the API's own: nothing installed yet
            self._tracer = provider.get_tracer("invoicebus_client")
        return self._tracer

    def request(self, routing_key: str) -> AbstractContextManager[object]:
        """A request and the wait for its reply (a command or a list), as one span."""
        if (tracer := self._on()) is None:
            return _OFF
        from opentelemetry.trace import SpanKind

        return tracer.start_as_current_span(
            f"{routing_key} request",
            kind=SpanKind.CLIENT,
            attributes={**SYSTEM, "messaging.rabbitmq.destination.routing_key": routing_key},
        )

    def publish(
        self, exchange: str, routing_key: str, headers: dict[str, Any], message_id: str | None
    ) -> AbstractContextManager[None]:
        """Publishing one message (all its attempts): its span's context goes in ``headers``."""
        if (tracer := self._on()) is None:
            return _OFF
        return _publishing(tracer, exchange, routing_key, headers, message_id)

    def receive(self, message: AbstractIncomingMessage) -> str | None:
        """A span for a received event, continuing the context its headers carry. Returns the
        ``traceparent`` to continue from: this span's, or the message's own when tracing is
        off, so a subscriber can always find the event's trace."""
        carried = _text_headers(message.headers or {})
        if (tracer := self._on()) is None:
            return carried.get(TRACEPARENT)
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind

        propagator = _propagator()
        exchange, routing_key = shown(message.exchange or ""), shown(message.routing_key or "")
        span = tracer.start_span(
            f"{exchange or 'default'}.{routing_key} receive",
            context=propagator.extract(carried),
            kind=SpanKind.CONSUMER,
            attributes={
                **SYSTEM,
                "messaging.operation": "receive",
                "messaging.destination.name": exchange,
                "messaging.rabbitmq.destination.routing_key": routing_key,
                "messaging.message.id": shown(message.message_id or ""),
            },
        )
        span.end()
        own: dict[str, str] = {}
        propagator.inject(own, context=trace.set_span_in_context(span))
        return own.get(TRACEPARENT) or carried.get(TRACEPARENT)


def _propagator() -> Any:
    """W3C trace context only, as the services read it (whatever OTEL_PROPAGATORS says)."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator()


@contextmanager
def _publishing(
    tracer: Tracer, exchange: str, routing_key: str, headers: dict[str, Any], message_id: str | None
) -> Iterator[None]:
    from opentelemetry.trace import SpanKind

    with tracer.start_as_current_span(
        f"{exchange}.{routing_key} publish",
        kind=SpanKind.PRODUCER,
        attributes={
            **SYSTEM,
            "messaging.operation": "publish",
            "messaging.destination.name": exchange,
            "messaging.rabbitmq.destination.routing_key": routing_key,
            "messaging.message.id": message_id or "",
        },
    ):
        _propagator().inject(headers)
        yield


def _text_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    """The trace context headers as text (a header may come as bytes)."""
    found = {}
    for name in (TRACEPARENT, Header.TRACESTATE.value):
        value = headers.get(name)
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        if isinstance(value, str):
            found[name] = value
    return found
