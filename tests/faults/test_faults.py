"""Fault injection: commands keep flowing while the service, the broker or the database fails.

Each scenario sends N ``customer.create`` commands with unique message_ids (each published
until confirmed) to a real ``python -m invoicebus.commands`` process, injects its fault in the
middle of the stream, heals it, waits for everything to settle and reconciles: every confirmed
command has exactly one document and at least one ``customer.created`` event (repeats carry
the same event id), no command id has two documents, no event lacks a command, nothing is
dead-lettered. The summary table is printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from invoicebus_contracts import Topology
from tests.faults.conftest import REPORTS, PrivateServers
from tests.faults.harness import (
    ConfirmedPublisher,
    Report,
    Run,
    ServiceProcess,
    prepare_topology,
    queue_depth,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(240)]

N = 200  # commands per scenario
#: Publishing pace: a burst (faster than the service takes them, so a backlog is in flight
#: when the service dies) or a steady stream (so publishing goes on through a broker or
#: database outage and after it).
BURST = (400.0, 64)  # (commands per second at most, publishes awaiting a confirm at once)
STEADY = (40.0, 4)
FAULT_AT = N // 3  # confirmed commands before the fault


@dataclass
class Scenario:
    run: Run
    service: ServiceProcess
    publisher: ConfirmedPublisher
    servers: PrivateServers

    def sending(self, pace: tuple[float, int]) -> tuple[asyncio.Task[None], asyncio.Event]:
        rate, window = pace
        progress = asyncio.Event()
        task = asyncio.create_task(
            self.run.send(
                self.publisher,
                range(N),
                rate=rate,
                window=window,
                progress=progress,
                progress_at=FAULT_AT,
            )
        )
        return task, progress

    async def finish(self, sending: asyncio.Task[None]) -> None:
        await asyncio.wait_for(sending, 120)
        await self.service.wait_ready(90)
        self.run.report.republished = self.publisher.retries
        await self.run.reconcile()


@asynccontextmanager
async def scenario(servers: PrivateServers, name: str) -> AsyncIterator[Scenario]:
    prefix = f"ibfault-{name[0]}-{uuid.uuid4().hex[:6]}"  # names and databases
    rabbit, mongo = servers.rabbit, servers.mongo
    await prepare_topology(rabbit.url, prefix)
    service = ServiceProcess(rabbit.url, mongo.url, prefix, servers.workdir / f"{prefix}.log")
    run = Run(rabbit.url, mongo.url, prefix, Report(name))
    publisher = ConfirmedPublisher(rabbit.url, prefix)
    service.start()
    try:
        await service.wait_ready(90)
        await run.create_entity(publisher)
        yield Scenario(run, service, publisher, servers)
        exit_code = await asyncio.to_thread(service.terminate)
        assert exit_code == 0, f"the service exited with {exit_code}"
        REPORTS.append(run.report)
    except BaseException:
        print(f"--- service log ({service.log_path}), last lines:")
        print("\n".join(service.log_text().splitlines()[-60:]))
        raise
    finally:
        await publisher.close()
        if service.process is not None and service.process.poll() is None:
            service.process.kill()


async def command_consumers(s: Scenario, timeout: float = 20) -> dict[str, int]:
    """Consumers per command shard queue, as RabbitMQ reports them, once all have one (or
    timeout)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        counts = await asyncio.to_thread(s.servers.rabbit.queue_counts, s.run.prefix)
        shards = set(Topology(s.run.prefix).command_queues)
        consumers = {q: c for q, (_, _, c) in counts.items() if q in shards}
        if all(consumers.values()) or asyncio.get_running_loop().time() > deadline:
            return consumers
        await asyncio.sleep(1)


def transient_failures(service: ServiceProcess) -> float:
    """The service's count of database/broker failures it waited out (from /metrics)."""
    _, body = service.http("/metrics")
    found = re.search(
        rb'^invoicebus_transient_failures_total\{stage="command"\} (\S+)$', body, re.M
    )
    return float(found.group(1)) if found else 0.0


async def test_a_command_service_killed_mid_stream(private_servers: PrivateServers) -> None:
    async with scenario(private_servers, "a: kill -9 service") as s:
        sending, progress = s.sending(BURST)
        await asyncio.wait_for(progress.wait(), 60)
        await asyncio.to_thread(s.service.kill)
        await s.run.snapshot("at kill -9")
        await asyncio.sleep(1)
        s.service.start()
        s.run.healed()
        await s.finish(sending)


@pytest.mark.parametrize("how", ["stop", "kill -9"])
async def test_b_rabbitmq_restarted_mid_stream(private_servers: PrivateServers, how: str) -> None:
    rabbit = private_servers.rabbit
    async with scenario(private_servers, f"b: RabbitMQ {how} + start") as s:
        sending, progress = s.sending(STEADY)
        await asyncio.wait_for(progress.wait(), 60)
        await asyncio.to_thread(rabbit.stop if how == "stop" else rabbit.kill)
        assert await s.service.readiness() == 503  # visible while the broker is away
        await asyncio.sleep(2)
        await asyncio.to_thread(rabbit.start)
        s.run.healed()
        await s.finish(sending)
        # FastStream #2758: every command queue has its consumer again after the restart
        # (as the broker sees it; its queue statistics lag by a few seconds).
        consumers = await command_consumers(s)
        assert consumers and all(c >= 1 for c in consumers.values()), consumers


async def test_c_database_stopped_mid_stream(private_servers: PrivateServers) -> None:
    mongo = private_servers.mongo
    async with scenario(private_servers, "c: database down 6 s") as s:
        sending, progress = s.sending(STEADY)
        await asyncio.wait_for(progress.wait(), 60)
        await asyncio.to_thread(mongo.stop)
        await asyncio.sleep(3)
        # Visible: not ready. Nothing given up: no command dead-lettered while it is away.
        assert await s.service.readiness() == 503
        await asyncio.sleep(3)
        dead = await queue_depth(s.run.amqp_url, f"{s.run.prefix}.dead-letter")
        assert dead == 0
        retried = await asyncio.to_thread(transient_failures, s.service)
        await asyncio.to_thread(mongo.start)
        s.run.healed()
        await s.finish(sending)
        # Backoff, not a hot loop: a few retries per command in the prefetch window.
        assert 0 < retried < 400, retried
        s.run.report.notes.append(f"transient failures waited out: {retried:.0f}")


async def test_d_every_command_published_twice(private_servers: PrivateServers) -> None:
    async with scenario(private_servers, "d: every command twice") as s:
        # First back to back (both deliveries in flight at once), then the whole batch again.
        for i in range(N):
            for _ in range(2):
                await s.run.send(s.publisher, range(i, i + 1), rate=1000)
        await s.run.send(s.publisher, range(N), rate=1000)
        await s.service.wait_ready(60)
        s.run.report.republished = 2 * N
        await s.run.reconcile()
        # Each repeat re-published the original event, with the original id (checked by
        # reconcile): one event per delivery.
        assert s.run.report.duplicate_events == 2 * N


async def test_e_service_stopped_with_sigterm_mid_stream(private_servers: PrivateServers) -> None:
    async with scenario(private_servers, "e: SIGTERM service") as s:
        sending, progress = s.sending(BURST)
        await asyncio.wait_for(progress.wait(), 60)
        exit_code = await asyncio.to_thread(s.service.terminate)
        await s.run.snapshot("after SIGTERM")
        assert exit_code == 0
        log = s.service.log_text()
        assert "stopping: no new messages" in log and "invoicebus.runtime stopped" in log
        s.service.start()
        s.run.healed()
        await s.finish(sending)
        # In-flight commands were finished and acked, not redelivered and redone.
        assert s.run.report.duplicate_events == 0
        _, body = s.service.http("/readyz")
        assert json.loads(body)["ready"] is True
