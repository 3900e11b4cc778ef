"""What tracing costs when it is off, per message: a micro-benchmark.

    python benchmarks/bench_tracing.py [--messages 2000] [--calls 100000]

Off (no ``OTEL_*`` variables), the services install no telemetry middleware and no MongoDB
listener, so their code path is the one without tracing; what is left is the SDK's hooks
around each publish and each received event. This times:

- those hooks per message (request, publish and receive spans) with tracing off, and with an
  OpenTelemetry SDK installed (spans recorded, nothing exported) for comparison;
- for scale, encoding a small command body as JSON (which every publish does), and a
  confirmed publish of a command through the SDK to the real broker (``AMQP_URL``, default
  localhost; a topology prefix of its own, deleted afterwards), tracing off: the cost the
  hooks add is to be read against it.

Nothing here is asserted: figures vary by machine and load. Medians of five rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import timeit
import uuid
from collections.abc import Callable
from typing import Any

import aio_pika
from opentelemetry.sdk.trace import TracerProvider

from invoicebus.runtime import tracing
from invoicebus_client import InvoicebusClient
from invoicebus_client.topology import delete_topology
from invoicebus_client.tracing import Tracing
from invoicebus_contracts import Resource

ROUNDS = 5


class _Message:
    """What ``Tracing.receive`` reads of a received message."""

    exchange = "invoicebus.events"
    routing_key = "customer.created"
    message_id = "evt_0123456789abcdef01234567"

    def __init__(self) -> None:
        self.headers = {"traceparent": f"00-{'4bf92f35' * 4}-{'00f067aa' * 2}-01"}


def hooks(spans: Tracing) -> Callable[[], None]:
    """The SDK's tracing hooks around one command and one received event."""
    message: Any = _Message()

    def one_message() -> None:
        headers: dict[str, Any] = {}
        with spans.request("customer.create"), spans.publish("x", "customer.create", headers, "m"):
            pass
        spans.receive(message)

    return one_message


def per_call_us(call: Callable[[], object], calls: int) -> float:
    rounds = timeit.repeat(call, number=calls, repeat=ROUNDS)
    return statistics.median(rounds) / calls * 1e6


async def publish_us(amqp_url: str, messages: int) -> float:
    """A confirmed publish of a command through the SDK, tracing off (µs, median round)."""
    prefix = f"ibbench-trace-{uuid.uuid4().hex[:8]}"
    client = InvoicebusClient(amqp_url, prefix, declare=True)  # no service declares this prefix
    rounds = []
    try:
        async with client:
            for _ in range(ROUNDS):
                start = time.perf_counter()
                for i in range(messages // ROUNDS):
                    await client.send(Resource.CUSTOMER, {"name": f"c{i}"})
                rounds.append((time.perf_counter() - start) / (messages // ROUNDS) * 1e6)
    finally:
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            await delete_topology(await connection.channel(), client.topology)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="confirmed publishes")
    parser.add_argument("--calls", type=int, default=100_000, help="calls of the hooks per round")
    args = parser.parse_args()
    amqp_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")

    assert not tracing.configured(), "unset the OTEL_* variables: this measures tracing off"
    assert tracing.broker_middlewares() == []
    assert tracing.mongo_listeners() == []
    off = per_call_us(hooks(Tracing()), args.calls)
    on = per_call_us(hooks(Tracing(TracerProvider())), args.calls // 10)
    body = {"name": "Ada Lovelace", "email": "ada@example.com", "metadata": {"crm": "42"}}
    dumps = per_call_us(lambda: json.dumps(body).encode(), args.calls)
    publish = asyncio.run(publish_us(amqp_url, args.messages))

    print("| per message | µs |")
    print("| --- | ---: |")
    print(f"| SDK tracing hooks, tracing off | {off:.2f} |")
    print(f"| SDK tracing hooks, an SDK recording (no export) | {on:.2f} |")
    print(f"| for scale: encoding a command's JSON body | {dumps:.2f} |")
    print(f"| confirmed publish of a command (SDK, tracing off) | {publish:.0f} |")
    print(f"| hooks off / publish | {off / publish:.2%} |")


if __name__ == "__main__":
    main()
