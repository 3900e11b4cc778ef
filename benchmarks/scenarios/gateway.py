"""The HTTP gateway's cost: ``POST /customers`` and ``GET /customers`` through the gateway
(httpx, a pooled keep-alive connection per request in flight) against the same command and
list request sent on the bus directly with the SDK (``InvoicebusClient``, one connection), in
the same run, on the same services and database.

Each round measures both paths one request at a time (``idle`` requests: the latency the
gateway adds) and with ``list_window`` in flight (``list_requests`` requests: throughput, and
latency under load). Latency is a call's wall time at the caller: for the SDK, publish to
reply; for HTTP, request to response, the gateway's own SDK call inside it. The gateway's CPU
time per 1,000 requests is its process's own.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from invoicebus_client import InvoicebusClient
from invoicebus_contracts import Resource

from ..bus import Timing
from ..context import Context
from ..load import Latency, median, run_window, throughput
from ..processes import Server, server_environment
from ..report import Table, number, ratio
from ..systems import COMMAND_SERVICE, QUERY_SERVICE
from ..workload import customer_body
from . import Result, progress

Call = Callable[[int], Awaitable[Timing]]
PATHS = ("SDK on the bus", "HTTP gateway")
OPERATIONS = ("POST /customers", "GET /customers")


@dataclass
class Figures:
    rates: list[float] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # gateway CPU-s per 1,000 (HTTP only)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def timed(send: Callable[[int], Awaitable[None]]) -> Call:
    async def call(i: int) -> Timing:
        started = time.perf_counter()
        await send(i)
        done = time.perf_counter()
        return Timing(started, done, done)

    return call


def calls(
    ctx: Context, sdk: InvoicebusClient, http: httpx.AsyncClient, entities: tuple[str, str],
    phase: str,
) -> dict[tuple[str, str], Call]:  # fmt: skip
    """Each operation by each path; every call checks its answer (201 or 200). Creates go to
    the first entity, lists read the second, whose customers stay the same all run long."""
    creates, lists = entities
    bodies = [customer_body(f"{ctx.run_id}-{phase}-{i}", i) for i in range(20_000)]
    headers = {"x-entity-id": creates, "content-type": "application/json"}
    listing = {"limit": 10}

    async def sdk_create(i: int) -> None:
        await sdk.scoped(entity_id=creates).create(Resource.CUSTOMER, bodies[i])

    async def sdk_list(i: int) -> None:
        await sdk.scoped(entity_id=lists).list(Resource.CUSTOMER, listing)

    async def http_create(i: int) -> None:
        response = await http.post("/customers", content=bodies[i], headers=headers)
        if response.status_code != 201:
            raise RuntimeError(f"POST /customers: {response.status_code} {response.text[:300]}")

    async def http_list(i: int) -> None:
        response = await http.get("/customers", params=listing, headers={"x-entity-id": lists})
        if response.status_code != 200:
            raise RuntimeError(f"GET /customers: {response.status_code} {response.text[:300]}")

    return {
        (PATHS[0], OPERATIONS[0]): timed(sdk_create),
        (PATHS[0], OPERATIONS[1]): timed(sdk_list),
        (PATHS[1], OPERATIONS[0]): timed(http_create),
        (PATHS[1], OPERATIONS[1]): timed(http_list),
    }


async def run(ctx: Context) -> Result:
    o = ctx.options
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    windows = (1, o.list_window)
    figures = {(path, op, w): Figures() for path in PATHS for op in OPERATIONS for w in windows}
    limits = httpx.Limits(max_connections=o.list_window, max_keepalive_connections=o.list_window)
    async with (
        ctx.database("gateway") as db,
        ctx.serving(COMMAND_SERVICE, db),
        ctx.serving(QUERY_SERVICE, db),
        httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http,
    ):
        env = {**ctx.environment(db), "INVOICEBUS_GATEWAY_PORT": str(port)}
        gateway = Server("invoicebus.gateway", server_environment(env), ctx.work_dir / "gw.log")

        async def ready() -> bool:
            try:
                return (await http.get("/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            await gateway.start(ready)
            entities = (await ctx.entity(COMMAND_SERVICE), await ctx.entity(COMMAND_SERVICE))
            async with InvoicebusClient(ctx.amqp_url, ctx.topology.prefix) as sdk:
                # The lists' data, made once: ``list_documents`` customers, as in ``lists``.
                listed = sdk.scoped(entity_id=entities[1])
                data = [customer_body(f"{ctx.run_id}-gw-data-{i}", i)
                        for i in range(o.list_documents)]  # fmt: skip

                async def store(i: int) -> Timing:
                    await listed.create(Resource.CUSTOMER, data[i])
                    return Timing(0.0, 0.0, 0.0)

                await run_window(o.list_documents, o.window, store)
                for r in range(o.rounds):
                    by = calls(ctx, sdk, http, entities, f"gw{r}")
                    for window in windows:
                        n = o.idle if window == 1 else o.list_requests
                        for (path, op), call in by.items():
                            await run_window(o.warmup, window, call)
                            with gateway.measure() as usage:
                                timings = await run_window(n, window, call)
                            f = figures[path, op, window]
                            f.rates.append(throughput(timings))
                            f.timings.extend(timings)
                            f.cpu.append(usage.cpu_seconds / n * 1000)
                            progress(f"gateway: {path}, {op}, {window} in flight:"
                                     f" {f.rates[-1]:.0f}/s")  # fmt: skip
        finally:
            await gateway.stop()
    return Result(tables(ctx, figures, windows))


def tables(
    ctx: Context, figures: dict[tuple[str, str, int], Figures], windows: tuple[int, ...]
) -> list[Table]:
    o = ctx.options
    columns = ["operation", "path", "in flight", "requests/s", "p50 ms", "p99 ms",
               "gateway CPU-s per 1,000"]  # fmt: skip
    main = Table(
        f"HTTP gateway against the SDK on the bus: one at a time ({o.idle} per round) and"
        f" {o.list_window} in flight ({o.list_requests} per round), median of {o.rounds}"
        " round(s)",
        columns,
        notes=[
            "Latency: the caller's wall time per call, every call pooled over the rounds;"
            f" GET is `limit=10` with the total count, on an entity of {o.list_documents}"
            " customers (POSTs go to another)."
        ],
    )
    added = Table(
        "What the gateway adds (latency: HTTP minus SDK; throughput: HTTP / SDK)",
        ["operation", "in flight", "+p50 ms", "+p99 ms", "requests/s"],
    )
    for op in OPERATIONS:
        for window in windows:
            cells = {}
            for path in PATHS:
                f = figures[path, op, window]
                latency = Latency.of(f.timings)
                cells[path] = (median(f.rates), latency)
                cpu = number(median(f.cpu)) if path == PATHS[1] else "n/a"
                row = [op, path, str(window), number(median(f.rates)), number(latency.p50),
                       number(latency.p99), cpu]  # fmt: skip
                main.rows.append(row)
            (sdk_rate, sdk), (http_rate, via) = cells[PATHS[0]], cells[PATHS[1]]
            p50, p99 = via.p50 - sdk.p50, via.p99 - sdk.p99
            added.rows.append(
                [op, str(window), f"{p50:+.2f}", f"{p99:+.2f}", ratio(http_rate, sdk_rate)]
            )
    return [main, added]
