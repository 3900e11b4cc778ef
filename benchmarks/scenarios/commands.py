"""Commands: the hand-written pipelines, then the command service, round after round.

Each round of each system runs on a fresh database with a fresh server process: a warm-up
(not counted), single commands one at a time (idle latency), then ``commands`` commands with
``window`` in flight (throughput, CPU, peak RSS, latency under load). Rounds interleave the
systems (a, b, service, a, b, service, ...) so a change in the machine's load hits them alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..bus import Timing
from ..context import Context
from ..load import Latency, median, run_window, throughput
from ..report import Table, mib, number, ratio
from ..systems import COMMAND_SERVICE, COMMAND_SERVICE_UNKEYED, COMMAND_SYSTEMS, System
from ..workload import creating
from . import Result, progress


@dataclass
class Figures:
    system: System
    rates: list[float] = field(default_factory=list)  # commands/s, one per round
    cpu: list[float] = field(default_factory=list)  # CPU-seconds per 1,000 commands
    rss: list[float] = field(default_factory=list)  # peak bytes
    idle: list[Timing] = field(default_factory=list)
    load: list[Timing] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return median(self.rates)

    @property
    def cpu_per_1000(self) -> float:
        return median(self.cpu)

    @property
    def peak_rss(self) -> float:
        return median(self.rss)

    def cells(self) -> list[float]:
        """The values of the table's columns, in order."""
        idle, load = Latency.of(self.idle), Latency.of(self.load)
        return [self.rate, self.cpu_per_1000, self.peak_rss, idle.p50, idle.p99, load.p50, load.p99]


COLUMNS = ["commands/s", "CPU-s per 1,000 commands", "peak RSS",
           "idle p50 ms", "idle p99 ms", "load p50 ms", "load p99 ms"]  # fmt: skip


async def one_round(ctx: Context, system: System, round_no: int, figures: Figures) -> None:
    o = ctx.options
    phase = f"{system.key}-r{round_no}"
    async with ctx.database(phase) as db, ctx.serving(system, db) as server:
        entity = await ctx.entity(system)
        await run_window(
            o.warmup, o.window, creating(ctx, system, entity, f"{phase}-warm", o.warmup)
        )
        idle = await run_window(o.idle, 1, creating(ctx, system, entity, f"{phase}-idle", o.idle))
        load_calls = creating(ctx, system, entity, f"{phase}-load", o.commands)
        with server.measure() as usage:
            load = await run_window(o.commands, o.window, load_calls)
    figures.rates.append(throughput(load))
    figures.cpu.append(usage.cpu_seconds / o.commands * 1000)
    figures.rss.append(usage.peak_rss)
    figures.idle.extend(idle)
    figures.load.extend(load)
    progress(
        f"commands round {round_no}/{o.rounds}: {system.key}: {figures.rates[-1]:.0f} commands/s,"
        f" {figures.cpu[-1]:.2f} CPU-s per 1,000, {mib(usage.peak_rss)}"
    )


async def run(ctx: Context) -> Result:
    o = ctx.options
    systems = COMMAND_SYSTEMS + ((COMMAND_SERVICE_UNKEYED,) if o.unkeyed else ())
    figures = {system: Figures(system) for system in systems}
    for round_no in range(1, o.rounds + 1):
        for system in systems:
            await one_round(ctx, system, round_no, figures[system])

    main = Table(
        f"customer.create: {o.commands} per round, {o.window} in flight, median of {o.rounds}"
        " round(s)",
        ["", *COLUMNS],
        notes=[
            "Throughput: first publish to the last `customer.created` seen. Latency: publish"
            " to the command's `customer.created` event, and for the service also its 201"
            f" reply; idle: one command at a time ({o.idle} per round); under load: every"
            f" command at {o.window} in flight; pooled over the rounds. CPU and RSS: the"
            " server process alone (psutil), during the load.",
        ],
    )
    for f in figures.values():
        rate, cpu, rss, *latencies = f.cells()
        name = f"**{f.system.key}**: {f.system.label}"
        main.rows.append([name, number(rate), number(cpu), mib(rss), *map(number, latencies)])

    service = figures[COMMAND_SERVICE].cells()
    ratios = Table("The service against each of the others (service ÷ other)", ["", *COLUMNS])
    for system, f in figures.items():
        if system is not COMMAND_SERVICE:
            pairs = zip(service, f.cells(), strict=True)
            ratios.rows.append([f"service ÷ {system.key}", *(ratio(s, b) for s, b in pairs)])
    return Result([main, ratios])
