"""The HTTP gateway under test: the two services and the gateway as real processes on the
shared servers (``system``), and the API reference's curl examples (``curl_examples``), parsed
from the spec files and run with ``curl`` as written, with only the host, the key and the
entity id filled in."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.faults.harness import ServiceProcess
from tests.support.backends import Backends
from tests.support.cleanup import remove_run

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "tests" / "data" / "api-reference"
REFERENCE_HOST = "https://eu.spaceinvoices.com"
START_SECONDS = 90


@dataclass
class System:
    prefix: str
    gateway: ServiceProcess
    services: list[ServiceProcess]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.http_port}"


@asynccontextmanager
async def system(
    servers: Backends,
    folder: Path,
    prefix: str,
    *,
    env: dict[str, str] | None = None,
    gateway_env: dict[str, str] | None = None,
    services: bool = True,
    amqp_url: str | None = None,
    gateway_url: str | None = None,
    gateway_ready: bool = True,
) -> AsyncIterator[System]:
    """The command and query services (unless ``services`` is False) and the gateway, ready
    (the gateway only alive when not ``gateway_ready``); stopped with SIGTERM afterwards (each
    must exit 0), and the run's topology and database removed. ``env`` goes to every process,
    ``gateway_env`` to the gateway's only; ``amqp_url`` is the services' broker URL (default:
    the shared broker's), ``gateway_url`` the gateway's (default: the services')."""
    amqp_url = amqp_url or servers.amqp_url
    common = {"INVOICEBUS_LOG_FORMAT": "json", **(env or {})}

    def process(module: str, extra: dict[str, str], url: str | None = None) -> ServiceProcess:
        name = module.rsplit(".", 1)[1]
        return ServiceProcess(
            url or amqp_url,
            servers.mongodb_url,
            prefix,
            folder / f"{name}.log",
            module=module,
            extra_env=extra,
        )

    running = (
        [process(m, common) for m in ("invoicebus.commands", "invoicebus.queries")]
        if services
        else []
    )
    gateway = process("invoicebus.gateway", {**common, **(gateway_env or {})}, gateway_url)
    try:
        for child in [*running, gateway]:
            child.start()
        for child in running:
            await child.wait_ready(START_SECONDS)
        if gateway_ready:
            await gateway.wait_ready(START_SECONDS)
        else:
            await alive(gateway)
        yield System(prefix, gateway, running)
    finally:
        codes = [await asyncio.to_thread(child.terminate) for child in [gateway, *running]]
        await remove_run(amqp_url, servers.mongodb_url, prefix, prefix.replace("-", "_"))
    assert codes == [0] * len(codes), (codes, gateway.log_text()[-3000:])


async def alive(service: ServiceProcess) -> None:
    """Until the process answers /healthz."""
    for _ in range(START_SECONDS * 10):
        status, _ = await asyncio.to_thread(service.http, "/healthz")
        if status == 200:
            return
        assert service.process is not None and service.process.poll() is None, service.log_text()
        await asyncio.sleep(0.1)
    raise AssertionError(f"never answered /healthz:\n{service.log_text()}")


@dataclass(frozen=True)
class Example:
    """One curl example of the API reference, and the JSON it shows as the answer."""

    spec: str
    command: str
    answer: Any

    @property
    def method(self) -> str:
        return "POST" if "-X POST" in self.command else "GET"

    @property
    def path(self) -> str:
        found = re.search(re.escape(REFERENCE_HOST) + r"(/[a-z]+)", self.command)
        assert found, self.command
        return found.group(1)


def curl_examples(name: str) -> list[Example]:
    """Every ``curl ...`` command of a spec file (with its continuation lines), each with the
    first JSON block that follows it (after a ``json`` line)."""
    text = (SPEC / name).read_text()
    lines = text.splitlines()
    found: list[Example] = []
    for i, line in enumerate(lines):
        if not line.startswith("curl "):
            continue
        end = i
        while lines[end].rstrip().endswith("\\") or not _complete("\n".join(lines[i : end + 1])):
            end += 1
        command = "\n".join(lines[i : end + 1])
        marker = lines.index("json", end)
        rest = "\n".join(lines[marker + 1 :])
        answer, _ = json.JSONDecoder().raw_decode(rest)
        found.append(Example(name, command, answer))
    return found


def _complete(command: str) -> bool:
    """Whether the shell would see the whole command (no quote left open)."""
    try:
        shlex.split(command)
    except ValueError:
        return False
    return True


async def run_curl(example: Example, url: str, key: str, entity_id: str) -> tuple[int, Any]:
    """Run the example with ``curl`` as written, by the shell (the host, key and entity id
    filled in; -sS and -w only make curl quiet and print the status): the status and the
    parsed body."""
    command = (
        example.command.replace(REFERENCE_HOST, url)
        .replace("YOUR_API_KEY", key)
        .replace("YOUR_ENTITY_ID", entity_id)
    )
    assert command.startswith("curl ")
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", f"{command} -sS -w '\\n%{{http_code}}'",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    body, _, status = out.decode().rpartition("\n")
    return int(status), json.loads(body)


#: Fields a reply carries that the reference's example does not show: the contract only grows
#: (docs/wire-contract.md), and an item's ``unit`` is one of the reference's own list fields.
ADDED_FIELDS = {"unit"}
#: Objects whose keys are the caller's own data: only their type is compared.
FREE_FORM = {"metadata"}


def shape_mismatches(actual: Any, reference: Any, where: str = "$") -> list[str]:
    """Where ``actual`` differs from the reference in shape: a key missing or extra (beyond
    ``ADDED_FIELDS``), or a JSON type that differs where neither value is null."""
    if isinstance(reference, dict):
        if not isinstance(actual, dict):
            return [f"{where}: {type(actual).__name__}, not an object"]
        found = [f"{where}.{k}: missing" for k in reference if k not in actual]
        found += [
            f"{where}.{k}: extra" for k in actual if k not in reference and k not in ADDED_FIELDS
        ]
        for key in reference.keys() & actual.keys():
            if key in FREE_FORM:
                found += [f"{where}.{key}: not an object"] * (not isinstance(actual[key], dict))
            else:
                found += shape_mismatches(actual[key], reference[key], f"{where}.{key}")
        return found
    if isinstance(reference, list):
        if not isinstance(actual, list):
            return [f"{where}: {type(actual).__name__}, not an array"]
        if reference and actual:
            return shape_mismatches(actual[0], reference[0], f"{where}[0]")
        return []
    if reference is None or actual is None:
        return []
    if _json_type(actual) != _json_type(reference):
        return [f"{where}: {_json_type(actual)}, the reference has {_json_type(reference)}"]
    return []


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__
