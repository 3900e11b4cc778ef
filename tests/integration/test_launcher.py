"""``invoicebus run``: the whole system from one command, stopped by a signal, data kept."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import aio_pika
import pytest

from invoicebus.adapters.mongo.embedded import free_port
from invoicebus_client.topology import declare_topology, delete_topology
from invoicebus_contracts import Topology
from tests.support.amqp import RawClient
from tests.support.backends import Backends

INVOICEBUS = str(Path(sys.executable).with_name("invoicebus"))
START_TIMEOUT = 90  # SecantusDB and two Python services starting on a busy 2-core machine


@pytest.fixture
def prefix() -> str:
    return f"ibtest-launch-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def declared(servers: Backends, prefix: str) -> AsyncIterator[None]:
    """The topology, declared as any client does before publishing; removed afterwards."""
    connection = await aio_pika.connect(servers.amqp_url)
    async with connection:
        await declare_topology(await connection.channel(), Topology(prefix), delivery_limit=10)
        yield
        await delete_topology(await connection.channel(), Topology(prefix))


def launcher_env(amqp_url: str, prefix: str, data_dir: Path, mongo_port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("INVOICEBUS_") and k not in ("MONGODB_URL", "AMQP_URL")
    }
    env.update(
        AMQP_URL=amqp_url,
        INVOICEBUS_PREFIX=prefix,
        INVOICEBUS_DATABASE=prefix.replace("-", "_"),
        INVOICEBUS_DATA_DIR=str(data_dir),
        INVOICEBUS_EMBEDDED_MONGO_PORT=str(mongo_port),
        INVOICEBUS_COMMAND_HTTP_PORT="0",
        INVOICEBUS_QUERY_HTTP_PORT="0",
        # Most tests need no HTTP gateway; the readiness test runs it.
        INVOICEBUS_GATEWAY_PORT="0",
        INVOICEBUS_SHUTDOWN_TIMEOUT_SECONDS="10",
    )
    return env


@asynccontextmanager
async def running(env: dict[str, str], log: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            INVOICEBUS, "run", env=env, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


def children_of(pid: int) -> dict[int, str]:
    """Child pids and their command lines, straight from /proc."""
    found: dict[int, str] = {}
    with suppress(FileNotFoundError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            found[int(child)] = cmdline.decode()
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


async def stopped(process: asyncio.subprocess.Process, sig: int) -> int:
    process.send_signal(sig)
    return await asyncio.wait_for(process.wait(), 60)


@pytest.mark.usefixtures("declared")
async def test_run_serves_commands_stops_on_sigterm_and_keeps_data(
    servers: Backends, prefix: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = launcher_env(servers.amqp_url, prefix, data, free_port())
    log = tmp_path / "run.log"

    async with running(env, log) as process, RawClient(servers.amqp_url, prefix) as client:
        first = await client.command(
            "entity.create", {"name": "Launched"}, message_id="first", timeout=START_TIMEOUT
        )
        assert first.status == 201, first.body
        listed = await client.query("entity.list", {}, timeout=START_TIMEOUT)
        assert listed.status == 200, listed.body
        assert [e["id"] for e in listed.body["data"]] == [first.body["id"]]
        second = await client.command("entity.create", {"name": "Launched too"})
        assert second.status == 201, second.body
        page = await client.query("entity.list", {"limit": 1})
        cursor = page.body["pagination"]["next_cursor"]
        services = children_of(process.pid)
        assert any("invoicebus.commands" in c for c in services.values()), services
        assert any("invoicebus.queries" in c for c in services.values()), services
        assert await stopped(process, signal.SIGTERM) == 0, log.read_text()
    assert not any(alive(pid) for pid in services), "children outlived the launcher"
    assert any((data / "mongo").iterdir()), "no database files under the data folder"

    # The key that signs cursors is kept in the data folder, readable by its owner only.
    assert (data / "cursor-secret").stat().st_mode & 0o777 == 0o600

    # Started again on the same data folder, the entities are still there, and a cursor
    # issued before the restart still leads on.
    async with running(env, log) as process, RawClient(servers.amqp_url, prefix) as client:
        listed = await client.query("entity.list", {}, timeout=START_TIMEOUT)
        assert listed.status == 200, listed.body
        assert listed.body["data"] == [first.body, second.body]
        following = await client.query("entity.list", {"limit": 1, "next_cursor": cursor})
        assert following.status == 200, following.body
        assert following.body["data"] == [second.body]
        customer = await client.command(
            "customer.create", {"name": "After restart"}, timeout=START_TIMEOUT
        )
        assert customer.status == 201, customer.body
        assert customer.body["entity_id"] == first.body["id"]  # the first entity is the default
        again = await client.command("entity.create", {"name": "Launched"}, message_id="first")
        assert again.body == first.body  # and its idempotency key survived too
        assert await stopped(process, signal.SIGINT) == 0, log.read_text()


@pytest.mark.usefixtures("declared")
async def test_a_dying_child_stops_everything_with_a_non_zero_exit(
    servers: Backends, prefix: str, tmp_path: Path
) -> None:
    env = launcher_env(servers.amqp_url, prefix, tmp_path / "data", free_port())
    log = tmp_path / "run.log"
    async with running(env, log) as process, RawClient(servers.amqp_url, prefix) as client:
        reply = await client.command("entity.create", {"name": "Doomed"}, timeout=START_TIMEOUT)
        assert reply.status == 201
        services = children_of(process.pid)
        commands = find(services, lambda c: "invoicebus.commands" in c)
        os.kill(commands, signal.SIGKILL)
        code = await asyncio.wait_for(process.wait(), 60)
    assert code == 1
    assert "invoicebus.commands exited" in log.read_text()
    assert not any(alive(pid) for pid in services), "children outlived the launcher"


@pytest.mark.usefixtures("declared")
async def test_killing_the_launcher_outright_takes_its_children_along(
    servers: Backends, prefix: str, tmp_path: Path
) -> None:
    env = launcher_env(servers.amqp_url, prefix, tmp_path / "data", free_port())
    async with running(env, tmp_path / "run.log") as process:
        async with RawClient(servers.amqp_url, prefix) as client:
            reply = await client.query("entity.list", {}, timeout=START_TIMEOUT)
            assert reply.status == 200
        services = children_of(process.pid)
        assert len(services) == 3, services  # SecantusDB and the two services
        process.kill()
        await process.wait()
    for _ in range(300):
        if not any(alive(pid) for pid in services):
            break
        await asyncio.sleep(0.1)
    survivors = {pid: cmdline for pid, cmdline in services.items() if alive(pid)}
    assert not survivors, f"children outlived a killed launcher: {survivors}"


async def test_unreachable_broker_is_a_clear_error(tmp_path: Path) -> None:
    env = launcher_env("amqp://guest:guest@127.0.0.1:1/", "ibtest-nobroker", tmp_path, free_port())
    log = tmp_path / "run.log"
    async with running(env, log) as process:
        code = await asyncio.wait_for(process.wait(), 60)
    assert code == 2
    [line] = log.read_text().splitlines()
    assert "cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:1/" in line


async def test_a_wrong_virtual_host_is_named_not_called_unreachable(
    servers: Backends, tmp_path: Path
) -> None:
    parsed = urlparse(servers.amqp_url)
    url = urlunparse(parsed._replace(path="/nope_vhost"))
    env = launcher_env(url, "ibtest-novhost", tmp_path, free_port())
    log = tmp_path / "run.log"
    async with running(env, log) as process:
        code = await asyncio.wait_for(process.wait(), 60)
    assert code == 2
    [line] = log.read_text().splitlines()
    assert "refused virtual host 'nope_vhost': it does not exist" in line
    assert "not reachable" not in line


async def test_an_http_port_clash_is_one_line_before_anything_starts(
    servers: Backends, tmp_path: Path
) -> None:
    env = launcher_env(servers.amqp_url, "ibtest-clash", tmp_path / "data", free_port())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env["INVOICEBUS_QUERY_HTTP_PORT"] = str(taken.getsockname()[1])
        log = tmp_path / "run.log"
        async with running(env, log) as process:
            code = await asyncio.wait_for(process.wait(), 60)
    assert code == 2
    [line] = log.read_text().splitlines()
    assert f"port {env['INVOICEBUS_QUERY_HTTP_PORT']} on 127.0.0.1" in line
    assert "INVOICEBUS_QUERY_HTTP_PORT" in line
    assert not (tmp_path / "data" / "mongo").exists()  # nothing was started


@pytest.mark.usefixtures("declared")
async def test_running_is_said_only_once_both_services_and_the_gateway_are_ready(
    servers: Backends, prefix: str, tmp_path: Path
) -> None:
    env = launcher_env(servers.amqp_url, prefix, tmp_path / "data", free_port())
    ports = {"commands": free_port(), "queries": free_port(), "gateway": free_port()}
    env.update(
        INVOICEBUS_COMMAND_HTTP_PORT=str(ports["commands"]),
        INVOICEBUS_QUERY_HTTP_PORT=str(ports["queries"]),
        INVOICEBUS_GATEWAY_PORT=str(ports["gateway"]),
    )
    log = tmp_path / "run.log"
    async with running(env, log) as process:
        for _ in range(START_TIMEOUT * 10):
            if "invoicebus is running" in log.read_text():
                break
            assert process.returncode is None, log.read_text()
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"never said it runs:\n{log.read_text()}")
        # At the moment it says so, all three answer /readyz with 200, and the gateway serves.
        for port in ports.values():
            status, _ = await asyncio.to_thread(readyz, port)
            assert status == 200, port
        status, body = await asyncio.to_thread(readyz, ports["gateway"], "/entities")
        assert (status, json.loads(body)["data"]) == (200, []), body
        assert await stopped(process, signal.SIGTERM) == 0, log.read_text()
    assert "invoicebus.gateway exited" not in log.read_text()


async def test_a_gateway_without_its_own_user_is_refused_when_auth_is_required(
    servers: Backends, tmp_path: Path
) -> None:
    env = launcher_env(servers.amqp_url, "ibtest-gwuser", tmp_path / "data", free_port())
    env.update(INVOICEBUS_AUTH="required", INVOICEBUS_GATEWAY_PORT=str(free_port()))
    log = tmp_path / "run.log"
    async with running(env, log) as process:
        code = await asyncio.wait_for(process.wait(), 60)
    assert code == 2
    [line] = log.read_text().splitlines()
    assert "INVOICEBUS_GATEWAY_AMQP_URL" in line
    assert not (tmp_path / "data" / "mongo").exists()  # nothing was started


def readyz(port: int, path: str = "/readyz") -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def find(processes: dict[int, str], match: Callable[[str], bool]) -> int:
    pids = [pid for pid, cmdline in processes.items() if match(cmdline)]
    assert len(pids) == 1, processes
    return pids[0]
