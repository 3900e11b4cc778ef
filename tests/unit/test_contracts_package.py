"""The contracts distribution stands alone: a client app needs pydantic and nothing else."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from tests.support.packages import assert_names_declared_alike

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


def test_every_public_name_loads_and_is_declared_alike_for_type_checkers_and_at_runtime() -> None:
    import invoicebus_contracts

    assert_names_declared_alike(invoicebus_contracts)


def test_the_topology_loads_without_pydantic() -> None:
    code = (
        "import sys\n"
        "from invoicebus_contracts import Resource, Topology\n"
        "Topology('x').declarations()\n"
        "print(','.join(m for m in sys.modules if m.split('.')[0] == 'pydantic'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
