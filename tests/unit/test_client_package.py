"""The SDK distribution stands alone: aio-pika (and its codec pamqp, which it patches), tenacity,
the contracts and the OpenTelemetry API (not its SDK, and imported only when the application
uses OpenTelemetry), no service code."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICE_LIBRARIES = {"invoicebus", "pymongo", "bson", "faststream", "typer", "secantus", "yaml"}


def test_the_client_depends_on_aio_pika_pamqp_tenacity_otel_api_and_the_contracts_alone() -> None:
    pyproject = (ROOT / "clients" / "python" / "pyproject.toml").read_text()
    project = tomllib.loads(pyproject)["project"]
    names = {d.split(">")[0].split("=")[0].split("[")[0] for d in project["dependencies"]}
    assert names == {
        "aio-pika", "pamqp", "tenacity", "invoicebus-contracts", "opentelemetry-api",
    }  # fmt: skip


def test_importing_the_client_loads_no_service_library() -> None:
    code = (
        "import sys, invoicebus_client, invoicebus_client.topology\n"
        f"print(','.join(m for m in sys.modules if m.split('.')[0] in {SERVICE_LIBRARIES!r}"
        " or m.startswith('opentelemetry')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
