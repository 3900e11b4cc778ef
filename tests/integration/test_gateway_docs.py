"""``/docs`` works offline: headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it)
loads the page from the gateway alone, runs Swagger UI's JavaScript (served by the gateway, no
CDN) on the committed OpenAPI document, and every operation renders."""

from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from pathlib import Path

from invoicebus.gateway.routes import PATHS
from tests.support.backends import Backends
from tests.support.gateway import system

#: Milliseconds of page time Chromium lets the scripts run before it dumps the DOM.
VIRTUAL_TIME_MS = 20_000


async def rendered(url: str, profile: Path) -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is missing: apt-get install chromium (.ci/run does)"
    process = await asyncio.create_subprocess_exec(
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        f"--user-data-dir={profile}", f"--virtual-time-budget={VIRTUAL_TIME_MS}",
        "--dump-dom", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()[-2000:]
    return out.decode()


async def test_docs_render_every_operation_in_headless_chromium(
    servers: Backends, tmp_path: Path
) -> None:
    prefix = f"ibgwdocs-{uuid.uuid4().hex[:8]}"
    # The page needs no broker: the gateway alone, not even ready, serves it.
    async with system(servers, tmp_path, prefix, services=False, gateway_ready=False) as running:
        dom = await rendered(f"{running.url}/docs", tmp_path / "chromium")
    found = re.findall(r'id="operations-([a-z]+)-([a-z_]+)"', dom)
    operations = {(tag, name) for tag, name in found if tag != "tag"}  # not the tags' headings
    expected = {
        (path.strip("/"), f"{verb}_{name}")
        for resource, path in PATHS.items()
        for verb, name in (("create", resource.value), ("list", path.strip("/")))
    }
    assert operations == expected, dom[:3000]
    assert "Unable to render" not in dom
    assert "invoicebus API" in dom  # the document's title, read from /openapi.json
