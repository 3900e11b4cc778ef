"""A server under test as a child process: started, measured with psutil, stopped.

Every server (the services and the hand-written baselines alike) runs as ``python -m MODULE``
with the services' environment variables, so its CPU time and memory are its own and are
measured the same way: CPU-seconds (user + system) from the kernel's accounting, and the peak
resident set size sampled while it works.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
#: Variables the servers read; the harness sets each one it needs explicitly, so none leaks in
#: from the shell that started it.
_SERVER_VARIABLES = ("AMQP_URL", "MONGODB_URL")
_SERVER_PREFIX = "INVOICEBUS_"
SAMPLE_SECONDS = 0.05
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0


def server_environment(settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any server setting, plus ``settings``."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in _SERVER_VARIABLES and not k.startswith(_SERVER_PREFIX)
    }
    return {**clean, **settings}


@dataclass
class Usage:
    """What a server used during a measured stretch."""

    cpu_seconds: float = 0.0
    peak_rss: int = 0  # bytes


class Server:
    """``python -m module`` with ``env``; output goes to ``log_path``."""

    def __init__(self, module: str, env: Mapping[str, str], log_path: Path) -> None:
        self.module = module
        self.env = dict(env)
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.ps: psutil.Process | None = None
        self.peak_rss = 0
        self._sampler: asyncio.Task[None] | None = None

    async def start(self, ready: Callable[[], Awaitable[bool]]) -> None:
        """Start it and wait until ``ready()`` (e.g. its queue has a consumer)."""
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", self.module, env=self.env, cwd=REPO, stdout=log, stderr=log
            )
        self.ps = psutil.Process(self.process.pid)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not await ready():
            if self.process.returncode is not None:
                raise RuntimeError(
                    f"{self.module} exited with {self.process.returncode}\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.module} was not ready in time\n{self.tail()}")
            await asyncio.sleep(0.1)
        self._sampler = asyncio.create_task(self._sample())

    def cpu_seconds(self) -> float:
        """User + system CPU time it has used so far."""
        assert self.ps is not None
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    @contextlib.contextmanager
    def measure(self) -> Iterator[Usage]:
        """The CPU time used and the peak resident set size within the ``with`` block."""
        usage = Usage()
        self.peak_rss = self._rss()
        cpu = self.cpu_seconds()
        yield usage
        usage.cpu_seconds = self.cpu_seconds() - cpu
        usage.peak_rss = max(self.peak_rss, self._rss())

    def _rss(self) -> int:
        assert self.ps is not None
        with contextlib.suppress(psutil.Error):
            rss: int = self.ps.memory_info().rss
            return rss
        return 0

    async def _sample(self) -> None:
        while True:
            self.peak_rss = max(self.peak_rss, self._rss())
            await asyncio.sleep(SAMPLE_SECONDS)

    def tail(self, lines: int = 30) -> str:
        """The last lines of its output, for an error message."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
