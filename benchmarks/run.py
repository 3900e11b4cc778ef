"""The benchmark harness: the services against hand-written baselines, in one run.

    python -m benchmarks.run            # full size (make bench): several minutes
    python -m benchmarks.run --quick    # every scenario end to end in seconds; figures meaningless

It uses RabbitMQ at ``AMQP_URL`` (default: localhost) under a topology prefix of its own, and a
fresh in-memory SecantusDB per round, or fresh databases on ``MONGODB_URL`` when it is set.
Scenarios: ``commands`` (the hand-written per-message and micro-batched pipelines and the
command service), ``lists`` (the query service and a hand-written RPC server on the same data)
``sweep`` (throughput and latency against the in-flight window), ``import`` (``invoicebus
import`` against the command service it feeds) and ``gateway`` (the HTTP gateway against the
SDK on the bus: the latency it adds, and its throughput). It prints the figures as
markdown tables (stdout; progress goes to stderr) and writes them to
``OUT/benchmark-results.md``, with the plot ``OUT/benchmark.png``. docs/benchmarks.md explains
how to read them.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import shlex
import shutil
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from invoicebus_contracts import Resource, Topology

from .baselines.batched import BATCH_SIZE, BATCH_WAIT_SECONDS
from .bus import Bus
from .context import QUICK, Context, Options, server_settings
from .databases import server_description
from .report import markdown, plot
from .scenarios import Result, commands, gateway, imports, lists, progress, sweep
from .systems import COMMAND_SERVICE

SCENARIOS: dict[str, Callable[[Context], Awaitable[Result]]] = {
    "commands": commands.run,
    "lists": lists.run,
    "sweep": sweep.run,
    "import": imports.run,
    "gateway": gateway.run,
}
RESULTS = "benchmark-results.md"
PLOT = "benchmark.png"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs"
FULL = Options()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    size = parser.add_argument_group("sizes (defaults: the full run; --quick: a smoke run)")
    for option in dataclasses.fields(Options):
        if "help" in option.metadata:
            default = getattr(FULL, option.name)
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
            size.add_argument(
                f"--{option.name.replace('_', '-')}",
                type=windows if isinstance(default, tuple) else int,
                help=f"{option.metadata['help']} ({shown})",
            )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument(
        "--without-message-id",
        action="store_true",
        help="also run the command service with commands that carry no message_id",
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"a subset of {','.join(SCENARIOS)}"
    )
    parser.add_argument(
        "--out", type=Path, help=f"where {RESULTS} and {PLOT} go (docs/; --quick: a temp dir)"
    )
    args = parser.parse_args(argv)
    unknown = set(args.scenarios.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return args


def windows(text: str) -> tuple[int, ...]:
    """``1,16,64`` → ``(1, 16, 64)``."""
    return tuple(int(w) for w in text.split(","))


def options_of(args: argparse.Namespace) -> Options:
    chosen = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(Options)
        if getattr(args, f.name, None) is not None
    }
    chosen["unkeyed"] = args.without_message_id
    return dataclasses.replace(QUICK if args.quick else FULL, **chosen)


def load_average() -> float:
    """The machine's 1-minute load average: the figures depend on what else runs."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def preamble(options: Options, broker: str, database: str, argv: list[str]) -> list[str]:
    settings = " ".join(f"`{k}={v}`" for k, v in server_settings(options).items())
    return [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores"
        f" ({platform.machine()}), Python {platform.python_version()}, {broker}, {database}."
        f" Load average (1 min) at the start: {load_average():.2f}.",
        "",
        f"Every server under test runs as its own process with {settings}; every other"
        " setting is the services' default. Batched baseline: at most"
        f" {BATCH_SIZE} messages or {BATCH_WAIT_SECONDS * 1000:g} ms per batch.",
        "",
        f"Command: `{' '.join(['python -m benchmarks.run', shlex.join(argv)]).strip()}`",
    ]


async def main(
    args: argparse.Namespace, argv: list[str], work: Path
) -> tuple[list[str], list[Result]]:
    """The run: the preamble of its report, and each scenario's result."""
    options = options_of(args)
    amqp_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    mongodb_url = os.environ.get("MONGODB_URL") or None
    topology = Topology(f"ibbench-{uuid.uuid4().hex[:6]}")
    async with Bus(amqp_url, topology, events=(Resource.CUSTOMER,)) as bus:
        ctx = Context(options, amqp_url, mongodb_url, bus, work)
        try:
            # The topology is the service's to declare: start it once, until it consumes.
            async with ctx.database("topology") as db, ctx.serving(COMMAND_SERVICE, db):
                engine = await server_description(db.url)
            await bus.watch()
            where = (
                f"{engine} at MONGODB_URL, a fresh database per round"
                if mongodb_url
                else f"{engine} in memory, a fresh server per round (retryWrites=false)"
            )
            lines = preamble(options, bus.broker_version(), where, argv)
            progress("\n".join(lines))
            results = [await SCENARIOS[name](ctx) for name in args.scenarios.split(",")]
        finally:
            await bus.delete_topology()
    lines += ["", f"Load average (1 min) at the end: {load_average():.2f}."]
    return lines, results


def write(lines: list[str], results: list[Result], out: Path) -> None:
    """The tables to stdout and ``out/RESULTS``, the plot to ``out/PLOT``."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / RESULTS]
    for result in results:
        if result.plot is not None:
            title, series = result.plot
            plot(series, title, out / PLOT)
            written.append(out / PLOT)
    text = markdown(lines, [table for result in results for table in result.tables])
    (out / RESULTS).write_text(text)
    print(text)
    progress(f"wrote {', '.join(map(str, written))}")


def cli(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    out: Path = args.out or (
        Path(tempfile.mkdtemp(prefix="invoicebus-bench-")) if args.quick else DEFAULT_OUT
    )
    work = Path(tempfile.mkdtemp(prefix="invoicebus-bench-logs-"))
    try:
        lines, results = asyncio.run(main(args, argv, work))
    except BaseException:
        progress(f"failed; the servers' logs are in {work}")
        raise
    shutil.rmtree(work, ignore_errors=True)
    write(lines, results, out)


if __name__ == "__main__":
    cli()
