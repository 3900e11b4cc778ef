"""The scenarios of a run, each a module with ``async def run(ctx: Context) -> Result``.

``benchmarks.run.SCENARIOS`` lists them in the order they run. To measure something new (the
REST gateway's added latency, for one), add a module here that starts what it needs with
``ctx.serving`` on a ``ctx.database``, drives it with ``load.run_window`` through a call of
its own (an HTTP request, say, next to the AMQP call in ``workload``), returns its tables, and
add it to ``SCENARIOS``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from ..report import Series, Table


@dataclass
class Result:
    tables: list[Table]
    #: A throughput/latency plot over in-flight windows: its title and one series per system.
    plot: tuple[str, list[Series]] | None = None


def progress(line: str) -> None:
    """A line on stderr while a run goes on (the figures go to stdout)."""
    print(line, file=sys.stderr, flush=True)
