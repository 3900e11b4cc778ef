"""The TypeScript client (clients/typescript) against the running services: its own test suite,
run by node's test runner with the broker URL and this run's prefix in the environment."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest

from invoicebus.settings import Settings

pytestmark = pytest.mark.usefixtures("command_service", "query_service")

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "typescript"
#: The test runner's closing counts, e.g. `# pass 5` (tap; other reporters use another marker).
SUMMARY = re.compile(r"^\S+ (pass|fail) (\d+)$", re.MULTILINE)


async def test_the_typescript_suite_passes_against_the_running_services(
    settings: Settings,
) -> None:
    npm = shutil.which("npm")
    assert npm, "npm is missing: the TypeScript client's tests need Node.js 20+ and npm"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICEBUS_")}
    env.update(AMQP_URL=settings.amqp_url, INVOICEBUS_PREFIX=settings.prefix, NO_COLOR="1")
    # Not subprocess.run: the services of the fixtures answer from this event loop meanwhile.
    process = await asyncio.create_subprocess_exec(
        npm,
        "test",
        cwd=CLIENT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    output = out.decode(errors="replace")
    print(output)  # shown by pytest when the test fails
    counts: dict[str, int] = {kind: int(n) for kind, n in SUMMARY.findall(output)}
    assert process.returncode == 0, output
    assert counts.get("fail") == 0, output
    assert counts.get("pass", 0) >= 5, output
