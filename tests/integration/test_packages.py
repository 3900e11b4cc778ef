"""The three distributions as a user installs them: their wheels are built, installed with
plain pip into a fresh virtualenv (``--find-links`` the wheels, every other package from the
index, as the README says), and what they install runs: both services start against the real
broker and database, answer, continue a client's trace when the ``OTEL_*`` variables turn
tracing on, and stop cleanly; the CLI starts; SecantusDB, a development
database, is not among what was installed, and ``invoicebus run`` says in one line how to
get it.

The wheels are built and installed once for the module; each test reuses them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from invoicebus.adapters.mongo.embedded import free_port
from tests.faults.harness import ServiceProcess
from tests.support.amqp import RawClient
from tests.support.backends import Backends
from tests.support.cleanup import remove_run

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = ("invoicebus", "invoicebus-client", "invoicebus-contracts")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
#: A W3C trace context, as any client may send it.
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
#: What SecantusDB brings along; a production install has none of it.
DEVELOPMENT_ONLY = ("secantus", "numpy", "shapely", "s2sphere")


@dataclass(frozen=True)
class Installed:
    venv: Path
    wheels: list[Path]

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """A command of the virtualenv, in a folder of its own (so nothing of the repository
        can be imported by accident), with ``env`` added to this environment."""
        environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        return subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            cwd=self.venv,
            env=environ | env,
            capture_output=True,
            text=True,
            timeout=120,
        )


def uv() -> str:
    found = shutil.which("uv", path=str(ROOT / ".tools" / "bin")) or shutil.which("uv")
    assert found, "uv not found: run make sync"
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("packages")
    dist, venv = tmp / "dist", tmp / "venv"
    build = [uv(), "build", "--all-packages", "--wheel", "--out-dir", str(dist), "--quiet"]
    subprocess.run(build, cwd=ROOT, check=True, timeout=300)
    wheels = sorted(dist.glob("*.whl"))
    # A virtualenv of the interpreter itself, with its own pip (not this environment's).
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run(
        [*pip, "--find-links", str(dist), "invoicebus"], cwd=tmp, check=True, timeout=600
    )
    return Installed(venv, wheels)


def test_the_wheels_install_with_pip_without_the_development_database(
    installed: Installed,
) -> None:
    names = {wheel.name.split("-")[0].replace("_", "-") for wheel in installed.wheels}
    assert names == set(DISTRIBUTIONS)
    assert installed.run("pip", "check").returncode == 0
    probe = (
        "import importlib.util, invoicebus\n"
        "print(invoicebus.__file__)\n"
        f"print([m for m in {DEVELOPMENT_ONLY!r} if importlib.util.find_spec(m)])\n"
    )
    shown = installed.run("python", "-c", probe)
    assert shown.returncode == 0, shown.stderr
    where, development = shown.stdout.splitlines()
    assert where.startswith(str(installed.venv))  # the wheel's code, not the repository's
    assert development == "[]"


def test_the_cli_runs_and_invoicebus_run_says_how_to_get_the_embedded_database(
    installed: Installed, servers: Backends
) -> None:
    helped = installed.run("invoicebus", "--help")
    assert helped.returncode == 0 and "dlq" in helped.stdout, helped.stderr

    ran = installed.run(
        "invoicebus",
        "run",
        AMQP_URL=servers.amqp_url,
        MONGODB_URL="",
        INVOICEBUS_COMMAND_HTTP_PORT=str(free_port()),
        INVOICEBUS_QUERY_HTTP_PORT=str(free_port()),
        INVOICEBUS_GATEWAY_PORT=str(free_port()),
    )
    assert ran.returncode == 2, ran.stderr
    [line] = ran.stderr.splitlines()
    assert "pip install 'invoicebus[embedded]'" in line and "MONGODB_URL" in line


async def test_the_installed_services_start_answer_and_stop_cleanly(
    installed: Installed, servers: Backends, tmp_path: Path
) -> None:
    prefix = f"ibpkg-{uuid.uuid4().hex[:8]}"
    services = [
        ServiceProcess(
            servers.amqp_url,
            servers.mongodb_url,
            prefix,
            tmp_path / f"{module}.log",
            module=module,
            python=installed.python,
            # Traces on, by the standard variables: spans go to stdout (the log file).
            extra_env={"OTEL_TRACES_EXPORTER": "console"},
        )
        for module in ("invoicebus.commands", "invoicebus.queries", "invoicebus.gateway")
    ]
    for service in services:
        service.start()
    try:
        for service in services:
            await service.wait_ready(90)
        async with RawClient(servers.amqp_url, prefix) as client:
            created = await client.command(
                "entity.create", {"name": "Installed"}, headers={"traceparent": TRACEPARENT}
            )
            listed = await client.query("entity.list", {})
        assert created.status == 201, created.body
        assert listed.status == 200 and listed.body["data"] == [created.body]
        # The gateway from the wheels: the same entity over HTTP, and /docs from its own files.
        gateway = services[2]
        status, body = await asyncio.to_thread(gateway.http, "/entities")
        assert status == 200 and json.loads(body)["data"] == [created.body]
        status, bundle = await asyncio.to_thread(gateway.http, "/docs/assets/swagger-ui-bundle.js")
        assert status == 200 and len(bundle) > 100_000
    finally:
        codes = [await asyncio.to_thread(service.terminate) for service in services]
        await remove_run(servers.amqp_url, servers.mongodb_url, prefix, prefix.replace("-", "_"))
    assert codes == [0, 0, 0], [service.log_text() for service in services]
    # The command service continued the trace the command's traceparent header named, and
    # exported its span when it stopped.
    spans = services[0].log_text()
    assert f'"name": "{prefix}.commands.entity.create process"' in spans
    assert f'"trace_id": "0x{TRACE_ID}"' in spans
    assert '"service.name": "invoicebus-commands"' in spans
