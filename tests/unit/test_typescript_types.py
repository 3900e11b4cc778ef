"""The TypeScript client's committed types are the generator's output for the current contract."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "typescript"
COMMITTED = CLIENT / "src" / "contract.ts"


def test_committed_typescript_types_are_up_to_date() -> None:
    node = shutil.which("node")
    assert node, "node is missing: the TypeScript client's types are generated with Node.js 20+"
    generated = subprocess.run(
        [node, "scripts/generate-types.mjs"],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert generated.returncode == 0, generated.stderr  # no node_modules? `make sync`
    assert COMMITTED.read_text() == generated.stdout, (
        "clients/typescript/src/contract.ts is stale: run `make typescript-types`"
    )
    assert "export interface CreateCustomer" in generated.stdout
