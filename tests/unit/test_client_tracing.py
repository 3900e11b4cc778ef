"""The SDK's trace context on the wire: off (no OpenTelemetry SDK installed) it writes nothing
into a message; on, a publish carries its span's W3C ``traceparent`` and a received event
continues the context it carries."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from invoicebus_client.tracing import Tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CARRIED = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


class Received:
    exchange = "invoicebus.events"
    routing_key = "customer.created"
    message_id = "evt_1"

    def __init__(self, headers: dict[str, Any]) -> None:
        self.headers = headers


def recording() -> tuple[Tracing, InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return Tracing(provider), spans


def test_off_nothing_is_written_and_an_event_keeps_the_context_it_carried() -> None:
    off = Tracing()  # the global provider: the API's, which records nothing
    headers: dict[str, Any] = {"x-entity-id": "ent_1"}
    with off.request("customer.create"), off.publish("ex", "customer.create", headers, "m-1"):
        pass
    assert headers == {"x-entity-id": "ent_1"}
    assert off.receive(Received({"traceparent": CARRIED})) == CARRIED  # type: ignore[arg-type]
    assert off.receive(Received({})) is None  # type: ignore[arg-type]


def test_on_a_publish_carries_its_span_under_the_request() -> None:
    on, spans = recording()
    headers: dict[str, Any] = {}
    with on.request("customer.create"), on.publish("ex", "customer.create", headers, "m-1"):
        pass
    publish, request = spans.get_finished_spans()
    assert (request.name, request.kind) == ("customer.create request", SpanKind.CLIENT)
    assert (publish.name, publish.kind) == ("ex.customer.create publish", SpanKind.PRODUCER)
    assert publish.parent is not None and publish.parent.span_id == request.context.span_id
    flags = int(publish.context.trace_flags)
    ids = f"{publish.context.trace_id:032x}-{publish.context.span_id:016x}-{flags:02x}"
    assert headers == {"traceparent": f"00-{ids}"}
    assert publish.attributes is not None and publish.attributes["messaging.message.id"] == "m-1"


def test_on_a_received_event_continues_the_trace_it_carries() -> None:
    on, spans = recording()
    # A header may arrive as bytes; the context is read all the same.
    traceparent = on.receive(Received({"traceparent": CARRIED.encode()}))  # type: ignore[arg-type]
    [receive] = spans.get_finished_spans()
    assert receive.name == "invoicebus.events.customer.created receive"
    assert receive.kind == SpanKind.CONSUMER
    assert f"{receive.context.trace_id:032x}" == TRACE_ID
    assert receive.parent is not None and f"{receive.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert traceparent is not None and traceparent.startswith(f"00-{TRACE_ID}-")
    assert traceparent != CARRIED  # the receive span's own, to continue from
