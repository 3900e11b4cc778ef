"""A fresh database for every round: a new in-memory SecantusDB, or a new database name on
``MONGODB_URL`` when it is set (dropped afterwards)."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Database:
    url: str
    name: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _ping(url: str) -> bool:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, serverSelectionTimeoutMS=500)
    try:
        await client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        await client.close()


@asynccontextmanager
async def secantus(log_path: Path) -> AsyncIterator[str]:
    """An in-memory SecantusDB server process; yields its URL.

    ``retryWrites=false``: SecantusDB slows down after many retryable writes.
    """
    port = _free_port()
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port),
            "--storage-path", ":memory:", "--log-level", "WARNING",
            stdout=log, stderr=log,
        )  # fmt: skip
    url = f"mongodb://127.0.0.1:{port}/?directConnection=true&retryWrites=false"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not await _ping(url):
            if process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"SecantusDB did not start; see {log_path}")
            await asyncio.sleep(0.1)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


@asynccontextmanager
async def fresh_database(
    mongodb_url: str | None, name: str, log_dir: Path
) -> AsyncIterator[Database]:
    """A database nobody has written to: on ``mongodb_url`` (dropped afterwards), or alone on
    a SecantusDB of its own (stopped afterwards)."""
    if mongodb_url is None:
        async with secantus(log_dir / f"secantus-{name}.log") as url:
            yield Database(url, name)
        return
    try:
        yield Database(mongodb_url, name)
    finally:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
        await client.drop_database(name)
        await client.close()


async def server_description(url: str) -> str:
    """``SecantusDB 0.7.0b3`` or ``MongoDB 8.0.4``: which server the figures come from."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    try:
        info = await client.admin.command("buildInfo")
    finally:
        await client.close()
    if "secantusVersion" in info:
        return f"SecantusDB {info['secantusVersion']}"
    return f"MongoDB {info.get('version', '?')}"
