"""One trace across the bus: the SDK's publish of a command, the command service's span for it,
its MongoDB write, the event it publishes and a subscriber's receive span are one trace; a
list request is another, through the query service and its read. Real broker, real database,
the services in this process with an in-memory exporter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from invoicebus.adapters.mongo.client import connect
from invoicebus.commands.app import create_app as command_app
from invoicebus.queries.app import create_app as query_app
from invoicebus.runtime import tracing
from invoicebus.settings import Settings
from invoicebus_client import Event, InvoicebusClient
from invoicebus_contracts import Resource
from tests.support.cleanup import remove_run


@dataclass
class Traced:
    prefix: str
    client: InvoicebusClient
    spans: InMemorySpanExporter
    provider: TracerProvider
    settings: Settings


@pytest.fixture(scope="module")
async def traced(settings: Settings) -> AsyncIterator[Traced]:
    """Both services traced into an in-memory exporter, on a topology of their own, and a
    client tracing into the same one."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    run = uuid.uuid4().hex[:8]
    own = settings.model_copy(update={"prefix": f"ibtrace-{run}", "database": f"ibtrace_{run}"})
    tracing.use(provider)
    try:
        apps = [command_app(own), query_app(own)]
    finally:
        tracing.use(None)  # services made later (other tests') are not traced
    for app in apps:
        await app.start()
    client = InvoicebusClient(own.amqp_url, own.prefix, tracer_provider=provider)
    try:
        async with client:
            yield Traced(own.prefix, client, spans, provider, own)
    finally:
        for app in apps:
            await app.stop()
        assert own.mongodb_url
        await remove_run(own.amqp_url, own.mongodb_url, own.prefix, own.database)


async def finished(
    spans: InMemorySpanExporter, ready: Callable[[list[ReadableSpan]], bool]
) -> list[ReadableSpan]:
    """The finished spans, once ``ready`` says they are all there (a span ends after the
    message it is about was answered)."""
    for _ in range(200):
        found = list(spans.get_finished_spans())
        if ready(found):
            return found
        await asyncio.sleep(0.05)
    return list(spans.get_finished_spans())


def one(spans: list[ReadableSpan], name: str, kind: SpanKind) -> ReadableSpan:
    [span] = [s for s in spans if s.name == name and s.kind == kind]
    return span


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[str]:
    """The names of ``span``'s parents, nearest first."""
    by_id = {s.context.span_id: s for s in spans}
    names = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


async def test_a_command_is_one_trace_from_the_client_to_a_subscriber(traced: Traced) -> None:
    prefix, client, spans = traced.prefix, traced.client, traced.spans
    received: asyncio.Queue[Event] = asyncio.Queue()
    bound = asyncio.Event()

    async def subscribe() -> None:
        async for event in client.tail(["entity.created"], on_ready=bound.set):
            await received.put(event)

    subscriber = asyncio.create_task(subscribe())
    try:
        await asyncio.wait_for(bound.wait(), 10)
        spans.clear()
        reply = await client.create(Resource.ENTITY, {"name": "Traced"})
        event = await asyncio.wait_for(received.get(), 20)
    finally:
        subscriber.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await subscriber
    assert event.id and event.body["id"] == reply.id

    receive_name = f"{prefix}.events.entity.created receive"
    found = await finished(spans, lambda f: any(s.name == receive_name for s in f) and any(
        s.name == f"{prefix}.commands.entity.create process" for s in f
    ))  # fmt: skip
    request = one(found, "entity.create request", SpanKind.CLIENT)
    trace_id = request.context.trace_id
    trace = [s for s in found if s.context.trace_id == trace_id]

    publish = one(trace, f"{prefix}.commands.entity.create publish", SpanKind.PRODUCER)
    process = one(trace, f"{prefix}.commands.entity.create process", SpanKind.CONSUMER)
    [insert] = [s for s in trace if s.name.endswith(".insert") and s.kind == SpanKind.CLIENT]
    event_publish = one(trace, f"{prefix}.events.entity.created publish", SpanKind.PRODUCER)
    receive = one(trace, receive_name, SpanKind.CONSUMER)

    # The client's publish, then the service: the context crossed the broker in the headers.
    assert ancestors(publish, trace) == ["entity.create request"]
    assert ancestors(process, trace)[:2] == [publish.name, "entity.create request"]
    # The database write and the event's publish happened inside the service's span.
    assert process.name in ancestors(insert, trace)
    assert insert.attributes is not None and insert.attributes["db.system"] == "mongodb"
    assert process.name in ancestors(event_publish, trace)
    # So did the reply and the tenant's copy of the event, whose spans are named for the
    # reply-to address and the event type, not for the client's queue or the entity.
    reply_publish = one(trace, "amq.rabbitmq.reply-to publish", SpanKind.PRODUCER)
    tenant_copy = one(trace, f"{prefix}.tenant-events.*.entity.created publish", SpanKind.PRODUCER)
    assert process.name in ancestors(reply_publish, trace)
    assert process.name in ancestors(tenant_copy, trace)
    # The subscriber continued the event's context: its receive span is in the same trace.
    assert process.name in ancestors(receive, trace)
    flags = int(receive.context.trace_flags)
    assert event.traceparent == f"00-{trace_id:032x}-{receive.context.span_id:016x}-{flags:02x}"
    assert receive.attributes is not None
    assert receive.attributes["messaging.message.id"] == event.id


async def test_a_list_request_is_one_trace_through_the_query_service(traced: Traced) -> None:
    prefix, client, spans = traced.prefix, traced.client, traced.spans
    spans.clear()
    page = await client.list(Resource.ENTITY, {"limit": 1})
    assert len(page.data) <= 1
    process_name = f"{prefix}.queries.entity.list process"
    found = await finished(spans, lambda f: any(s.name == process_name for s in f))
    request = one(found, "entity.list request", SpanKind.CLIENT)
    trace = [s for s in found if s.context.trace_id == request.context.trace_id]
    process = one(trace, process_name, SpanKind.CONSUMER)
    assert "entity.list request" in ancestors(process, trace)
    reads = [s for s in trace if s.kind == SpanKind.CLIENT and process.name in ancestors(s, trace)]
    assert any(s.name.endswith((".find", ".aggregate")) for s in reads), [s.name for s in reads]


async def test_the_cli_starts_the_trace_when_the_otel_variables_ask_for_it(
    traced: Traced, settings: Settings
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOICEBUS_", "OTEL_"))}
    env |= {"AMQP_URL": settings.amqp_url, "INVOICEBUS_PREFIX": traced.prefix}
    env |= {"OTEL_TRACES_EXPORTER": "console"}
    traced.spans.clear()
    cli = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("invoicebus")), "entity", "create", "--name", "CLI",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0, err
    assert json.loads(out)["name"] == "CLI"  # stdout holds the result alone
    # Its spans went to stderr, one JSON object per line; the service continued its trace.
    exported = [json.loads(line) for line in err.decode().splitlines()]
    [request] = [s for s in exported if s["name"] == "entity.create request"]
    assert request["resource"]["attributes"]["service.name"] == "invoicebus-cli"
    process_name = f"{traced.prefix}.commands.entity.create process"
    found = await finished(traced.spans, lambda f: any(s.name == process_name for s in f))
    process = one(found, process_name, SpanKind.CONSUMER)
    assert f"0x{process.context.trace_id:032x}" == request["context"]["trace_id"]


async def test_only_database_commands_made_within_a_trace_are_traced(settings: Settings) -> None:
    """The outbox relay's polls, the readiness probe's pings: no traces of one span each."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.use(provider)
    try:
        assert settings.mongodb_url
        mongo = connect(settings.mongodb_url, tracing.mongo_listeners())
    finally:
        tracing.use(None)
    try:
        await mongo.admin.command("ping")  # as the relay or /readyz would: in no trace
        with provider.get_tracer("test").start_as_current_span("a message"):
            await mongo.admin.command("ping")
    finally:
        await mongo.close()
    ping, message = spans.get_finished_spans()
    assert (ping.name, message.name) == ("admin.ping", "a message")
    assert ping.parent is not None and ping.parent.span_id == message.context.span_id


def test_tracing_is_off_unless_the_otel_variables_ask_for_it() -> None:
    assert not tracing.configured({})
    assert not tracing.configured({"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"})
    assert tracing.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    assert tracing.configured({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing.configured({"OTEL_TRACES_EXPORTER": "none"})
    assert not tracing.configured(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}
    )
    # Off, nothing is added to the broker or the database clients.
    assert tracing.provider() is None
    assert tracing.broker_middlewares() == [] and tracing.mongo_listeners() == []


async def test_an_http_request_is_one_trace_through_the_gateway_to_the_service(
    traced: Traced,
) -> None:
    """FastAPI's server span for the HTTP request, the gateway's SDK request and publish in it,
    and the command service's span under those: one trace from HTTP to the database."""
    import httpx

    from invoicebus.gateway.app import create_app as gateway_app

    prefix, spans = traced.prefix, traced.spans
    sdk = InvoicebusClient(traced.settings.amqp_url, prefix, tracer_provider=traced.provider)
    tracing.use(traced.provider)
    try:
        app = gateway_app(traced.settings, client=sdk)
    finally:
        tracing.use(None)
    transport = httpx.ASGITransport(app=app)
    async with sdk, httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        spans.clear()
        response = await http.post("/entities", json={"name": "Traced over HTTP"})
    assert response.status_code == 201, response.text
    process_name = f"{prefix}.commands.entity.create process"
    found = await finished(spans, lambda f: any(s.name == process_name for s in f))
    server = one(found, "POST /entities", SpanKind.SERVER)
    trace = [s for s in found if s.context.trace_id == server.context.trace_id]
    process = one(trace, process_name, SpanKind.CONSUMER)
    [insert] = [s for s in trace if s.name.endswith(".insert") and s.kind == SpanKind.CLIENT]
    assert ancestors(process, trace)[:3] == [
        f"{prefix}.commands.entity.create publish", "entity.create request", "POST /entities",
    ]  # fmt: skip
    assert process.name in ancestors(insert, trace)
