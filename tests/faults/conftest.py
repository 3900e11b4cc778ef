"""Private servers for the fault-injection suite, and its summary table."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from invoicebus.adapters.mongo.embedded import EmbeddedMongo
from tests.faults.harness import Report
from tests.faults.nodes import PrivateRabbit

REPORTS: list[Report] = []


@dataclass
class PrivateServers:
    rabbit: PrivateRabbit
    mongo: EmbeddedMongo
    workdir: Path


@pytest.fixture(scope="session")
def private_servers() -> Iterator[PrivateServers]:
    """A RabbitMQ node and a SecantusDB of the suite's own, whatever AMQP_URL/MONGODB_URL say:
    the scenarios restart and stop them."""
    with tempfile.TemporaryDirectory(prefix="invoicebus-faults-") as tmp:
        workdir = Path(tmp)
        rabbit = PrivateRabbit(workdir / "rabbit")
        mongo = EmbeddedMongo(workdir / "db", log_path=workdir / "secantus.log")
        try:
            rabbit.start()
            mongo.start()
            yield PrivateServers(rabbit, mongo, workdir)
        finally:
            mongo.stop()
            rabbit.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REPORTS:
        return
    terminalreporter.section("fault injection: sent / confirmed / stored / events")
    terminalreporter.write_line(Report.header())
    for report in REPORTS:
        terminalreporter.write_line(report.row())
    for report in REPORTS:
        for note in report.notes:
            terminalreporter.write_line(f"{report.scenario}: {note}")
    terminalreporter.write_line(
        "publish retries: publishes the client repeated (no confirm, or scenario d's repeats);"
        " dup events: created events seen more than once (same event id);"
        " recovery s: from healing to the first command stored after it"
    )
