"""Throughput and latency against the in-flight window, for the plot.

Each command system runs once, on a fresh database, through every window of ``sweep`` in
ascending order (``sweep_commands`` commands each, after one warm-up at the largest window).
"""

from __future__ import annotations

from ..context import Context
from ..load import Latency, run_window, throughput
from ..report import Series, Table, number
from ..systems import COMMAND_SYSTEMS, System
from ..workload import creating
from . import Result, progress


async def one_system(ctx: Context, system: System) -> Series:
    o = ctx.options
    series = Series(system.key, [], [], [], [])
    async with ctx.database(f"sweep-{system.key}") as db, ctx.serving(system, db):
        entity = await ctx.entity(system)
        warm = creating(ctx, system, entity, f"sweep-{system.key}-warm", o.warmup)
        await run_window(o.warmup, max(o.sweep), warm)
        for window in sorted(o.sweep):
            calls = creating(ctx, system, entity, f"sweep-{system.key}-{window}", o.sweep_commands)
            timings = await run_window(o.sweep_commands, window, calls)
            latency = Latency.of(timings)
            series.windows.append(window)
            series.rates.append(throughput(timings))
            series.p50.append(latency.p50)
            series.p99.append(latency.p99)
            progress(
                f"sweep: {system.key} at {window} in flight: {series.rates[-1]:.0f} commands/s"
            )
    return series


async def run(ctx: Context) -> Result:
    o = ctx.options
    series = [await one_system(ctx, system) for system in COMMAND_SYSTEMS]
    table = Table(
        f"customer.create against the in-flight window ({o.sweep_commands} commands per point;"
        " systems as above)",
        ["", "in flight", "commands/s", "p50 ms", "p99 ms"],
    )
    for s in series:
        for i, window in enumerate(s.windows):
            table.rows.append([s.label, str(window), number(s.rates[i]), number(s.p50[i]),
                               number(s.p99[i])])  # fmt: skip
    title = f"customer.create, {o.sweep_commands} commands per point, prefetch {o.prefetch}"
    return Result([table], plot=(title, series))
