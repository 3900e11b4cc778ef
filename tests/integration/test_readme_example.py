"""The README's raw-AMQP example, run as written against the real broker and services."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from invoicebus.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"

pytestmark = pytest.mark.usefixtures("command_service", "entity")


def example(marker: str) -> str:
    match = re.search(rf"<!-- example: {marker} -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert match, f"no {marker} example in the README"
    return match.group(1)


async def test_raw_amqp_example_creates_a_customer(settings: Settings, tmp_path: Path) -> None:
    script = tmp_path / "raw_amqp.py"
    script.write_text(example("raw-amqp"))
    env = {**os.environ, "AMQP_URL": settings.amqp_url, "INVOICEBUS_PREFIX": settings.prefix}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert out.decode().startswith("201 {'id': 'cust_")
    assert "'name': 'Grace Hopper'" in out.decode()
