"""Every metric the alert rules and the Grafana dashboard read from a service is one that
service exports: both services run as real processes and their live /metrics are scraped.

RabbitMQ's metrics are checked against the plugin's documented list
(tests/unit/test_observability.py); the gateway cannot be run yet, so nothing may read its
metrics except ``up``, which Prometheus writes itself.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import pytest

from invoicebus.adapters.mongo.client import connect
from invoicebus_client.topology import delete_topology
from invoicebus_contracts import Topology
from tests.faults.harness import ServiceProcess
from tests.support.amqp import RawClient
from tests.support.backends import Backends
from tests.support.observability import SYNTHETIC, Reading, all_readings, exported_names

MODULES = {"commands": "invoicebus.commands", "queries": "invoicebus.queries"}


@pytest.fixture
async def scraped(servers: Backends, tmp_path: Path) -> AsyncIterator[dict[str, set[str]]]:
    """Service -> every metric name its /metrics exports, after one command and one list."""
    prefix = f"ibobs-{uuid.uuid4().hex[:8]}"
    services = {
        name: ServiceProcess(
            servers.amqp_url, servers.mongodb_url, prefix, tmp_path / f"{name}.log", module=module
        )
        for name, module in MODULES.items()
    }
    for service in services.values():
        service.start()
    try:
        for service in services.values():
            await service.wait_ready(90)
        async with RawClient(servers.amqp_url, prefix) as client:
            entity = await client.command("entity.create", {"name": "Observed"})
            listed = await client.query("entity.list", {})
        assert (entity.status, listed.status) == (201, 200)
        texts = {name: await asyncio.to_thread(s.http, "/metrics") for name, s in services.items()}
        assert all(status == 200 for status, _ in texts.values())
        yield {name: exported_names(text.decode()) for name, (_, text) in texts.items()}
    finally:
        codes = [await asyncio.to_thread(s.terminate) for s in services.values()]
        connection = await aio_pika.connect(servers.amqp_url)
        async with connection:
            await delete_topology(await connection.channel(), Topology(prefix))
        mongo = connect(servers.mongodb_url)
        await mongo.drop_database(prefix.replace("-", "_"))
        await mongo.close()
    assert codes == [0, 0]


def missing(readings: list[Reading], exported: dict[str, set[str]]) -> list[str]:
    """Readings of a service's metric that this service does not export."""
    return [
        f"{r.where}: {r.metric} is not exported by {service}"
        for r in readings
        for service in sorted(r.services & set(exported))
        if r.metric not in exported[service] | SYNTHETIC
    ]


async def test_every_metric_read_from_a_service_is_one_it_exports(
    scraped: dict[str, set[str]],
) -> None:
    readings = all_readings()
    from_services = [r for r in readings if r.services & set(MODULES)]
    assert len(from_services) > 30
    assert missing(readings, scraped) == []
    # The command service's own series are there, and only there: each service has its own
    # registry. The check would see a misspelt one.
    own = {
        "invoicebus_commands_total",
        "invoicebus_outbox_pending_events",
        "invoicebus_outbox_oldest_pending_age_seconds",
    }
    assert own <= scraped["commands"]
    assert not own & scraped["queries"]
    assert "invoicebus_consumer_restarts_total" in scraped["commands"] & scraped["queries"]
    typo = Reading("panel X", "invoicebus_command_total", frozenset({"commands"}))
    assert missing([typo], scraped) == [
        "panel X: invoicebus_command_total is not exported by commands"
    ]


async def test_nothing_reads_the_gateways_metrics_but_up() -> None:
    gateway = {r.metric for r in all_readings() if "gateway" in r.services}
    assert gateway == set(SYNTHETIC)
