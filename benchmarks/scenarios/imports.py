"""Bulk import: ``invoicebus import customers FILE`` (the real CLI, a process of its own) against
the command service fed by the harness, on the same rows, round after round.

In each round the service runs on a fresh database twice: once fed ``import_rows`` commands by
the harness (``window`` in flight, as in the ``commands`` scenario), once by the CLI reading the
same bodies from a JSON-lines file (its default window). The import's rate is rows divided by
the CLI process's whole life (start-up, hashing and reading the file included); the service's,
commands divided by the time from the first publish to the last ``customer.created``. The
service is the bottleneck, so the ratio shows what the importer adds on top of it.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..context import Context
from ..load import median, run_window, throughput
from ..report import Table, number, ratio
from ..systems import COMMAND_SERVICE
from ..workload import creating, customer_body
from . import Result, progress

INVOICEBUS = str(Path(sys.executable).with_name("invoicebus"))


@dataclass
class Figures:
    service: list[float] = field(default_factory=list)  # commands/s, the harness feeding
    imported: list[float] = field(default_factory=list)  # rows/s, the CLI's whole run
    cli_cpu: list[float] = field(default_factory=list)  # the CLI's CPU-s per 1,000 rows


async def run_import(ctx: Context, file: Path, entity: str) -> tuple[float, float]:
    """The CLI importing ``file``: rows per second over its whole run, CPU-s per 1,000 rows."""
    rows = sum(1 for _ in file.open())
    env = {"AMQP_URL": ctx.amqp_url, "INVOICEBUS_PREFIX": ctx.topology.prefix, "PATH": ""}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        INVOICEBUS, "--entity", entity, "import", "customers", str(file),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    _, err = await process.communicate()
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise RuntimeError(f"the import failed ({process.returncode}): {err.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return rows / elapsed, cpu / rows * 1000


async def one_round(ctx: Context, round_no: int, figures: Figures) -> None:
    o = ctx.options
    phase = f"import-r{round_no}"
    async with ctx.database(f"{phase}-service") as db, ctx.serving(COMMAND_SERVICE, db):
        entity = await ctx.entity(COMMAND_SERVICE)
        calls = creating(ctx, COMMAND_SERVICE, entity, f"{phase}-service", o.import_rows)
        figures.service.append(throughput(await run_window(o.import_rows, o.window, calls)))
    file = ctx.work_dir / f"{phase}.jsonl"
    with file.open("w") as out:
        for i in range(o.import_rows):
            out.write(json.dumps(json.loads(customer_body(f"{phase}-{i}", i))) + "\n")
    async with ctx.database(f"{phase}-cli") as db, ctx.serving(COMMAND_SERVICE, db):
        entity = await ctx.entity(COMMAND_SERVICE)
        rate, cpu = await run_import(ctx, file, entity)
    figures.imported.append(rate)
    figures.cli_cpu.append(cpu)
    progress(
        f"import round {round_no}/{o.rounds}: service fed by the harness"
        f" {figures.service[-1]:.0f} commands/s, invoicebus import {rate:.0f} rows/s"
    )


async def run(ctx: Context) -> Result:
    o = ctx.options
    figures = Figures()
    for round_no in range(1, o.rounds + 1):
        await one_round(ctx, round_no, figures)
    service, imported = median(figures.service), median(figures.imported)
    table = Table(
        f"invoicebus import customers: {o.import_rows} rows per round, median of {o.rounds}"
        " round(s)",
        ["", "rows/s", "import ÷ service", "importer CPU-s per 1,000 rows"],
        notes=[
            f"The command service on a fresh database, fed {o.import_rows} `customer.create`"
            f" commands by the harness ({o.window} in flight; first publish to the last event)"
            " and by `invoicebus import customers FILE` (a JSON-lines file of the same bodies,"
            " its default window; the CLI's whole run, start-up included). The importer's CPU"
            " is that of the CLI process alone.",
        ],
    )
    table.rows.append(["command service, fed by the harness", number(service), "", ""])
    table.rows.append([
        "`invoicebus import customers`", number(imported), ratio(imported, service),
        number(median(figures.cli_cpu)),
    ])  # fmt: skip
    return Result([table])
