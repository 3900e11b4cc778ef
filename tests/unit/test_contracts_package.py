"""The contracts distribution stands alone: a client app needs pydantic and nothing else."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_contracts_depend_on_pydantic_alone() -> None:
    project = tomllib.loads((ROOT / "contracts" / "pyproject.toml").read_text())["project"]
    assert [d.split(">")[0].split("=")[0].split("[")[0] for d in project["dependencies"]] == [
        "pydantic"
    ]


def test_importing_contracts_loads_no_service_library() -> None:
    code = (
        "import sys, invoicebus_contracts, invoicebus_contracts.wire\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'invoicebus', 'pymongo', 'bson', 'faststream', 'aio_pika', 'aiormq'}]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
