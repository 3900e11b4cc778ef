"""The SDK installs on its own: its wheel and the contracts' are built, installed with plain pip
into a fresh virtualenv (their dependencies from PyPI, our two wheels from the build folder
only), and a program there creates and lists against the real broker and services."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest

from invoicebus.settings import Settings

pytestmark = pytest.mark.usefixtures("command_service", "query_service")

ROOT = Path(__file__).resolve().parents[2]
OURS = ("invoicebus-contracts", "invoicebus-client")


def uv() -> str:
    bootstrapped = ROOT / ".tools" / "bin" / "uv"
    found = str(bootstrapped) if bootstrapped.exists() else shutil.which("uv")
    assert found, "uv is missing: `make sync` bootstraps it into .tools/"
    return found


def requirements(wheel: Path) -> list[str]:
    """The wheel's dependencies (Requires-Dist), but for our own distributions."""
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode().splitlines()
    found = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]
    return [r for r in found if not r.startswith(OURS)]


@pytest.fixture(scope="module")
def python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a virtualenv where pip installed the SDK from its built wheel."""
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    for package in OURS:
        subprocess.run(
            [uv(), "build", "--package", package, "--wheel", "--out-dir", str(dist), "--quiet"],
            cwd=ROOT, env=env, check=True, timeout=300,
        )  # fmt: skip
    wheels = sorted(dist.glob("*.whl"))
    assert [w.name.split("-")[0] for w in wheels] == ["invoicebus_client", "invoicebus_contracts"]
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True, timeout=300)
    python = work / "venv" / "bin" / "python"
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    deps = sorted({r for wheel in wheels for r in requirements(wheel)})
    subprocess.run([*pip, "install", *deps], check=True, timeout=600)
    subprocess.run(
        [*pip, "install", "--no-index", "--find-links", str(dist), "invoicebus-client"],
        check=True, timeout=300,
    )  # fmt: skip
    return python


PROGRAM = textwrap.dedent(
    """
    import asyncio, json, sys
    from importlib.metadata import distributions

    from invoicebus_client import ErrorReply, InvoicebusClient
    from invoicebus_contracts import Customer, Resource

    async def main(url, prefix, entity):
        async with InvoicebusClient(url, prefix, entity_id=entity) as client:
            made = await client.create(Resource.CUSTOMER, {"name": "From the wheel"})
            page = await client.list(Resource.CUSTOMER, {"search": "from the wheel"})
            try:
                await client.create(Resource.CUSTOMER, {"name": "X", "country_code": "XX"})
            except ErrorReply as refused:
                code = refused.code
        return {
            "created": isinstance(made, Customer) and made.id,
            "listed": [c.id for c in page.data],
            "refused": code,
            "installed": sorted(d.metadata["Name"] for d in distributions()),
        }

    print(json.dumps(asyncio.run(main(*sys.argv[1:]))))
    """
)


async def test_the_installed_wheel_creates_and_lists_against_the_services(
    python: Path, settings: Settings, entity: dict[str, Any]
) -> None:
    process = await asyncio.create_subprocess_exec(
        str(python), "-c", PROGRAM, settings.amqp_url, settings.prefix, entity["id"],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    result = json.loads(out)
    assert result["created"]
    assert result["created"] in result["listed"]
    assert result["refused"] == "validation_error"
    installed = {name.lower() for name in result["installed"]}
    assert {"invoicebus-client", "invoicebus-contracts", "aio-pika", "pydantic"} <= installed
    # Nothing of the services came along.
    assert not installed & {"invoicebus", "faststream", "pymongo", "uvicorn", "secantusdb", "typer"}
