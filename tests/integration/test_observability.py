"""What operators see of the running services, with both as real processes: every metric the
alert rules and the Grafana dashboard read from a service is one that service exports (its
live /metrics, scraped), and the logs are JSON lines that carry the message's ids.

RabbitMQ's metrics are checked against the plugin's documented list
(tests/unit/test_observability.py); no rule or panel reads the gateway's own series yet
(tests/integration/test_gateway.py checks it exports them), so nothing may read its metrics
except ``up``, which Prometheus writes itself.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from invoicebus_contracts import Resource, Topology
from tests.faults.harness import ServiceProcess
from tests.support.amqp import RawClient
from tests.support.backends import Backends
from tests.support.cleanup import remove_run
from tests.support.observability import SYNTHETIC, Reading, all_readings, exported_names

MODULES = {"commands": "invoicebus.commands", "queries": "invoicebus.queries"}
#: The message ids and correlation ids the fixture sends.
GOOD, BAD, LISTED = "obs-good", "obs-bad", "obs-list"


@dataclass
class Observed:
    prefix: str
    #: Service -> every metric name its /metrics exports.
    exported: dict[str, set[str]]
    #: Service -> its output (stdout and stderr), one JSON object per line.
    logs: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
async def observed(servers: Backends, tmp_path_factory: pytest.TempPathFactory) -> Observed:
    """Both services with JSON logs, after a created command, a refused one and a list."""
    tmp_path: Path = tmp_path_factory.mktemp("observed")
    prefix = f"ibobs-{uuid.uuid4().hex[:8]}"
    services = {
        name: ServiceProcess(
            servers.amqp_url,
            servers.mongodb_url,
            prefix,
            tmp_path / f"{name}.log",
            module=module,
            extra_env={"INVOICEBUS_LOG_FORMAT": "json", "INVOICEBUS_LOG_LEVEL": "info"},
        )
        for name, module in MODULES.items()
    }
    for service in services.values():
        service.start()
    try:
        for service in services.values():
            await service.wait_ready(90)
        async with RawClient(servers.amqp_url, prefix) as client:
            entity = await client.command("entity.create", {"name": "Observed"}, message_id=GOOD)
            refused = await client.command(
                "customer.create", {"name": "X", "colour": "red"}, message_id=BAD,
                entity_id=entity.body["id"], correlation_id=f"{BAD}-corr",
            )  # fmt: skip
            listed = await client.query("entity.list", {}, correlation_id=LISTED)
        assert (entity.status, refused.status, listed.status) == (201, 422, 200)
        texts = {name: await asyncio.to_thread(s.http, "/metrics") for name, s in services.items()}
        assert all(status == 200 for status, _ in texts.values())
        exported = {name: exported_names(text.decode()) for name, (_, text) in texts.items()}
    finally:
        codes = [await asyncio.to_thread(s.terminate) for s in services.values()]
        await remove_run(servers.amqp_url, servers.mongodb_url, prefix, prefix.replace("-", "_"))
    assert codes == [0, 0]
    logs = {name: parsed(s.log_text()) for name, s in services.items()}
    return Observed(prefix, exported, logs)


def parsed(output: str) -> list[dict[str, Any]]:
    """Every line of a service's output as a JSON object (fails on any other line)."""
    return [json.loads(line) for line in output.splitlines()]


def missing(readings: list[Reading], exported: dict[str, set[str]]) -> list[str]:
    """Readings of a service's metric that this service does not export."""
    return [
        f"{r.where}: {r.metric} is not exported by {service}"
        for r in readings
        for service in sorted(r.services & set(exported))
        if r.metric not in exported[service] | SYNTHETIC
    ]


async def test_every_metric_read_from_a_service_is_one_it_exports(observed: Observed) -> None:
    scraped = observed.exported
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


async def test_logs_are_json_lines_and_a_refusal_carries_the_messages_fields(
    observed: Observed,
) -> None:
    commands, queries = observed.logs["commands"], observed.logs["queries"]
    for line in commands + queries:  # every line parsed (the fixture did); these fields each
        assert {"time", "level", "logger", "message"} <= set(line), line

    [refusal] = [line for line in commands if line.get("message_id") == BAD]
    assert refusal["level"] == "INFO" and refusal["message"].startswith("refused customer.create")
    assert refusal["correlation_id"] == f"{BAD}-corr"
    assert refusal["routing_key"] == "customer.create"
    assert refusal["outcome"] == "validation_error"
    assert refusal["entity_id"].startswith("ent_")

    # The created command and the answered list left no line at INFO: nothing per message on
    # the success path, FastStream's Received/Processed included.
    assert not [line for line in commands if line.get("message_id") == GOOD]
    assert not [line for line in queries if line.get("correlation_id") == LISTED]
    said = [line["message"] for line in commands + queries]
    assert not {"Received", "Processed"} & set(said)
    assert not [m for m in said if "waiting for messages" in m]
    # Instead, one line per queue, naming it.
    topology = Topology(observed.prefix)
    assert consuming(commands) == set(topology.command_queues)
    assert consuming(queries) == {topology.query_queue(r) for r in Resource} | {
        topology.replay_queue
    }


def consuming(lines: list[dict[str, Any]]) -> set[str]:
    queues = [line["queue"] for line in lines if line["message"].startswith("consuming ")]
    assert len(queues) == len(set(queues))  # once each
    return set(queues)
