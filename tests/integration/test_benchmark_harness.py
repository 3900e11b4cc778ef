"""The benchmark harness runs end to end (tiny sizes), so it cannot rot unnoticed.

It runs ``python -m benchmarks.run --quick`` as ``make bench`` would, against the test run's
RabbitMQ and Mongo-wire server, and checks that every scenario produced its figures and that
the plot was drawn. It asserts nothing about speed: the figures of a smoke run mean nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.backends import Backends

REPO = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_quick_run_writes_every_table_and_the_plot(servers: Backends, tmp_path: Path) -> None:
    env = {**os.environ, "AMQP_URL": servers.amqp_url, "MONGODB_URL": servers.mongodb_url}
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]

    results = (tmp_path / "benchmark-results.md").read_text()
    assert run.stdout.strip() == results.strip()
    for title in ("### customer.create: 20 per round", "### The service against each",
                  "### customer.list, limit 10", "### The query service against",
                  "### customer.create against the in-flight window"):  # fmt: skip
        assert title in results, f"missing table {title!r}"
    for system in ("per-message", "batched", "service"):
        row = re.search(rf"^\| \*\*{system}\*\*: .*$", results, re.MULTILINE)
        assert row is not None, f"no row for {system}"
        cells = [c.strip() for c in row.group(0).strip("|").split("|")][1:]
        assert len(cells) == 7
        assert all(re.fullmatch(r"[0-9.]+( MiB)?", c) for c in cells), cells
    for request in ("with total count", "without count", "search (and count)"):
        assert len(re.findall(rf"^\| {re.escape(request)} \| [^|]+ \| [0-9.]+ \|", results,
                              re.MULTILINE)) == 2, request  # fmt: skip
    assert re.search(r"^\| service ÷ batched \| [0-9.]+\u00d7", results, re.MULTILINE)
    assert "### invoicebus import customers: 20 rows per round" in results
    assert re.search(
        r"^\| `invoicebus import customers` \| [0-9.]+ \| [0-9.]+\u00d7 \| [0-9.]+ \|$",
        results,
        re.MULTILINE,
    )

    assert "### HTTP gateway against the SDK on the bus" in results
    for op in ("POST /customers", "GET /customers"):
        added = rf"^\| {op} \| [0-9]+ \| [+-][0-9.]+ \| [+-][0-9.]+ \| [0-9.]+\u00d7 \|$"
        assert len(re.findall(added, results, re.MULTILINE)) == 2, op

    plot = (tmp_path / "benchmark.png").read_bytes()
    assert plot.startswith(PNG_SIGNATURE)
    assert len(plot) > 10_000  # two panels with axes, lines and legends, not an empty canvas
