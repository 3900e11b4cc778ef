"""List requests: the query service against the hand-written RPC server, on the same data.

The data is made once, by the command service itself (``list_documents`` customers of one
entity, so the documents are exactly the service's). Then, round after round, each server runs
on that database in turn and answers every request of ``workload.LIST_REQUESTS``: first one
request whose page must equal the other server's (same ids, same total: the same find on the
same data), a warm-up, then ``list_requests`` requests with ``list_window`` in flight.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from invoicebus_contracts import LIST_REPLY_MODELS, ListRequest, Resource

from ..bus import Timing
from ..context import Context, expect
from ..databases import Database
from ..load import Latency, median, run_window, throughput
from ..report import Table, mib, number, ratio
from ..systems import COMMAND_SERVICE, LIST_SYSTEMS, QUERY_SERVICE, RPC, System
from ..workload import LIST_REQUESTS, creating, listing
from . import Result, progress

#: What must be equal between the two servers' first pages: the ids and the total.
Page = tuple[list[str], int]


@dataclass
class Figures:
    rates: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # CPU-seconds per 1,000 requests
    rss: list[float] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=list)


async def first_page(ctx: Context, entity_id: str, request: ListRequest) -> Page:
    body = request.model_dump_json(exclude_unset=True).encode()
    _, reply = await ctx.bus.call(
        ctx.topology.queries_exchange, Resource.CUSTOMER.list_key, body, entity_id=entity_id
    )
    page = LIST_REPLY_MODELS[Resource.CUSTOMER].model_validate(
        json.loads(expect(reply, 200, "customer.list"))
    )
    return [item.id for item in page.data], page.pagination.total


async def serve_round(
    ctx: Context, system: System, db: Database, entity_id: str, pages: dict[str, Page],
    figures: dict[tuple[System, str], Figures],
) -> None:  # fmt: skip
    o = ctx.options
    async with ctx.serving(system, db) as server:
        for name, request in LIST_REQUESTS.items():
            page = await first_page(ctx, entity_id, request)
            if pages.setdefault(name, page) != page:
                raise RuntimeError(f"{system.key} answers {name} with another page: {page}")
            call = listing(ctx, system, entity_id, request)
            await run_window(o.warmup, o.list_window, call)
            with server.measure() as usage:
                timings = await run_window(o.list_requests, o.list_window, call)
            f = figures[system, name]
            f.rates.append(throughput(timings))
            f.cpu.append(usage.cpu_seconds / o.list_requests * 1000)
            f.rss.append(usage.peak_rss)
            f.timings.extend(timings)
            progress(f"lists: {system.key}, {name}: {f.rates[-1]:.0f} requests/s")


async def run(ctx: Context) -> Result:
    o = ctx.options
    async with ctx.database("lists") as db:
        async with ctx.serving(COMMAND_SERVICE, db):
            entity_id = await ctx.entity(COMMAND_SERVICE)
            make = creating(ctx, COMMAND_SERVICE, entity_id, "list-data", o.list_documents)
            await run_window(o.list_documents, o.window, make)
        progress(f"lists: {o.list_documents} customers stored through the command service")
        pages: dict[str, Page] = {}
        figures = {(s, name): Figures() for s in LIST_SYSTEMS for name in LIST_REQUESTS}
        for _ in range(o.rounds):
            for system in LIST_SYSTEMS:
                await serve_round(ctx, system, db, entity_id, pages, figures)

    main = Table(
        f"customer.list, limit 10: {o.list_requests} requests per round, {o.list_window} in"
        f" flight, median of {o.rounds} round(s), {o.list_documents} customers",
        [
            "request",
            "server",
            "requests/s",
            "p50 ms",
            "p99 ms",
            "server CPU-s per 1,000",
            "peak RSS",
        ],
        notes=[
            "Latency: publish to reply, every request pooled over the rounds. Both servers"
            " answered each request with the same first page (ids and total) before timing.",
        ],
    )
    ratios = Table(
        "The query service against the hand-written RPC server (service ÷ hand-written)",
        ["request", "requests/s", "p50", "p99", "CPU per 1,000"],
    )
    for name in LIST_REQUESTS:
        cells: dict[System, list[float]] = {}
        for system in LIST_SYSTEMS:
            f = figures[system, name]
            latency = Latency.of(f.timings)
            cells[system] = [median(f.rates), latency.p50, latency.p99, median(f.cpu)]
            main.rows.append([name, system.label, *(number(v) for v in cells[system]),
                              mib(median(f.rss))])  # fmt: skip
        pairs = zip(cells[QUERY_SERVICE], cells[RPC], strict=True)
        ratios.rows.append([name, *(ratio(s, h) for s, h in pairs)])
    return Result([main, ratios])
