"""When the bus does not answer, the gateway does, and never hangs: no reply in time is 504
``gateway_timeout`` (the command is still queued, to be carried out later), an unreachable
broker 503 ``service_unavailable`` and /readyz 503."""

from __future__ import annotations

import uuid
from pathlib import Path

import aio_pika
import httpx

from invoicebus_client.topology import declare_topology
from invoicebus_contracts import ErrorBody, Topology
from tests.support.amqp import peek_queue
from tests.support.backends import Backends
from tests.support.gateway import system


async def test_no_reply_in_time_is_504_and_the_command_stays_queued(
    servers: Backends, tmp_path: Path
) -> None:
    prefix = f"ibgw504-{uuid.uuid4().hex[:8]}"
    topology = Topology(prefix)
    connection = await aio_pika.connect(servers.amqp_url)
    async with connection:  # declared, as the services would, but nobody consumes
        await declare_topology(await connection.channel(), topology, delivery_limit=10)
    async with (
        system(
            servers,
            tmp_path,
            prefix,
            services=False,
            gateway_env={"INVOICEBUS_GATEWAY_REPLY_TIMEOUT_SECONDS": "1"},
        ) as running,
        httpx.AsyncClient(base_url=running.url, timeout=30) as http,
    ):
        created = await http.post(
            "/customers", json={"name": "Later"}, headers={"Idempotency-Key": "k-504"}
        )
        listed = await http.get("/customers")
        # The command waits in whichever shard its (absent) entity header hashes to.
        queued = [
            message
            for queue in topology.command_queues
            for message in await peek_queue(servers.amqp_url, queue)
        ]
        metrics = (await http.get("/metrics")).text
    for response in (created, listed):
        assert response.status_code == 504, response.text
        assert ErrorBody.model_validate(response.json()).error.code == "gateway_timeout"
    assert "Idempotency-Key" in created.json()["error"]["message"]
    assert [m.message_id for m in queued] == ["k-504"]  # carried out once a service runs
    assert 'code="gateway_timeout",request="customer.create"' in metrics


async def test_an_unreachable_broker_is_503_and_not_ready(
    servers: Backends, tmp_path: Path
) -> None:
    prefix = f"ibgw503-{uuid.uuid4().hex[:8]}"
    async with (
        system(
            servers,
            tmp_path,
            prefix,
            services=False,
            gateway_url="amqp://guest:guest@127.0.0.1:1/",
            gateway_ready=False,
        ) as running,
        httpx.AsyncClient(base_url=running.url, timeout=30) as http,
    ):
        ready = await http.get("/readyz")
        created = await http.post("/customers", json={"name": "Nowhere"})
        listed = await http.get("/customers")
    assert (ready.status_code, ready.json()) == (503, {"ready": False, "broker": False})
    for response in (created, listed):
        assert response.status_code == 503, response.text
        assert ErrorBody.model_validate(response.json()).error.code == "service_unavailable"
