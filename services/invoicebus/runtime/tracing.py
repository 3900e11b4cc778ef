"""Traces (OpenTelemetry), off unless the standard ``OTEL_*`` variables ask for them.

On when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``) or an OTLP endpoint
is set (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), and
``OTEL_SDK_DISABLED`` is not ``true``. Then the process gets a ``TracerProvider`` (service name
from ``OTEL_SERVICE_NAME``, else ``invoicebus-<service>``; sampler from
``OTEL_TRACES_SAMPLER``; batch export, OTLP over HTTP/protobuf as the ``OTEL_EXPORTER_OTLP_*``
variables say), and:

- the broker gets FastStream's telemetry middleware (``broker_middlewares``): a ``process``
  span per message consumed, continuing the W3C trace context of its headers (the SDK and the
  CLI put it there), and a ``publish`` span per event, reply or dead letter sent, whose
  context goes in that message's headers;
- each MongoDB client gets a command listener (``mongo_listeners``): a span per database
  command made for a message, a child of the message's span;
- the SDK's spans (in the CLI) go to the same provider.

Off, none of this is imported or installed: the services run exactly as without tracing.

A write shared by several messages (a batch) should be recorded under a span of its own with a
link to each message's span, so that each message's trace shows it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # only imported when tracing is on
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__package__)

_provider: TracerProvider | None = None


def configured(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the ``OTEL_*`` variables ask for traces."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if exporters := environ.get("OTEL_TRACES_EXPORTER", "").strip().lower():
        return exporters != "none"
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def start_from_environment(
    service: str, *, console: TextIO = sys.stdout, environ: Mapping[str, str] = os.environ
) -> bool:
    """Trace this process if the ``OTEL_*`` variables say so (``service``: its default name,
    e.g. ``invoicebus-commands``; ``console``: where the ``console`` exporter writes, one JSON
    object per span and line); whether it does."""
    if not configured(environ):
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    use(_provider_for(resource, _exporters(environ, console)))
    return True


def _exporters(environ: Mapping[str, str], console: TextIO) -> list[SpanExporter]:
    names = [n.strip() for n in environ.get("OTEL_TRACES_EXPORTER", "otlp").lower().split(",")]
    found: list[SpanExporter] = []
    for name in filter(None, names):
        if name == "otlp":
            protocol = environ.get(
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            )
            if protocol != "http/protobuf":
                log.warning("OTLP over %s is not supported: traces go over http/protobuf", protocol)
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            found.append(OTLPSpanExporter())
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            found.append(
                ConsoleSpanExporter(out=console, formatter=lambda s: s.to_json(indent=None) + "\n")
            )
        elif name != "none":
            log.warning("OTEL_TRACES_EXPORTER %r is not supported (otlp, console): ignored", name)
    return found


def _provider_for(resource: Any, exporters: Sequence[SpanExporter]) -> TracerProvider:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # the SDK's spans (the CLI's) go there too
    return provider


def use(provider: TracerProvider | None) -> None:
    """Trace the brokers and MongoDB clients made from now on with ``provider`` (None: stop;
    the tests use their own provider)."""
    global _provider
    _provider = provider


def provider() -> TracerProvider | None:
    return _provider


def broker_middlewares() -> list[Any]:
    """FastStream's telemetry middleware when tracing is on; none otherwise."""
    if _provider is None:
        return []
    from faststream.opentelemetry.middleware import TelemetryMiddleware
    from faststream.rabbit.opentelemetry.provider import RabbitTelemetrySettingsProvider
    from faststream.rabbit.response import RabbitPublishCommand

    from invoicebus_client.transport import DIRECT_REPLY_TO
    from invoicebus_contracts import ENTITY_ID_PATTERN

    entity_first = re.compile(ENTITY_ID_PATTERN.rstrip("$") + r"\.")

    class Names(RabbitTelemetrySettingsProvider):
        """FastStream's names (``<exchange>.<routing key>``), but none per client or tenant:
        a reply's span is named for the reply-to address, not the client's own reply queue,
        and a tenant event's without its entity id (``….tenant-events.*.customer.created``).
        A name per connection or per entity would swamp a tracing backend's list of
        operations; the full routing key stays in the span's attributes."""

        def get_publish_destination_name(self, cmd: RabbitPublishCommand) -> str:
            if cmd.destination.startswith(DIRECT_REPLY_TO):
                return DIRECT_REPLY_TO
            if entity_first.match(cmd.destination):
                key = entity_first.sub("*.", cmd.destination, count=1)
                return f"{cmd.exchange.name}.{key}"
            return super().get_publish_destination_name(cmd)

    return [
        TelemetryMiddleware[RabbitPublishCommand](
            settings_provider_factory=lambda _: Names(), tracer_provider=_provider
        )
    ]


def mongo_listeners() -> list[Any]:
    """A command listener tracing MongoDB commands when tracing is on; none otherwise."""
    if _provider is None:
        return []
    from opentelemetry import trace
    from opentelemetry.instrumentation.pymongo import CommandTracer
    from pymongo.monitoring import CommandStartedEvent

    class InTraces(CommandTracer):
        """Only the commands made within a trace (for a message): the outbox relay's polls,
        the readiness probe's pings and the start's indexes would each make a trace of one
        span, every few seconds, and bury the traces that matter."""

        def started(self, event: CommandStartedEvent) -> None:
            if trace.get_current_span().get_span_context().is_valid:
                super().started(event)

    return [InTraces(trace.get_tracer("invoicebus.mongo", tracer_provider=_provider))]


def current_ids() -> dict[str, str]:
    """The current trace's and span's ids as tracing backends show them (none outside one)."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


def shutdown() -> None:
    """Export what is left (the process is ending)."""
    if _provider is not None:
        _provider.shutdown()
