"""The HTTP endpoints of a service: ``/healthz`` (the process answers), ``/readyz`` (200 only
while it can do its work) and ``/metrics`` (Prometheus text)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import Scope
from faststream.rabbit import RabbitBroker
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client import generate_latest as prometheus_text

from .progress import Progress, stalled_queues
from .readiness import Readiness
from .watchdog import dead_consumers, queue_names

# The package's logger, as before runtime.py was split: operators (and tests) look for it.
log = logging.getLogger(__package__)


def metrics_text(registries: Sequence[CollectorRegistry]) -> bytes:
    return b"".join(prometheus_text(r) for r in registries)


@dataclass
class Phase:
    running: bool = False  # started and not yet stopping


def health_app(
    broker: RabbitBroker,
    ready: Readiness,
    phase: Phase,
    registries: Sequence[CollectorRegistry],
    progress: Progress,
) -> AsgiFastStream:
    """The three endpoints; ``/metrics`` shows every registry of ``registries``."""

    @get(include_in_schema=False)
    async def healthz(scope: Scope) -> AsgiResponse:
        return AsgiResponse(b"ok\n", status_code=200, headers={"content-type": "text/plain"})

    @get(include_in_schema=False)
    async def readyz(scope: Scope) -> AsgiResponse:
        dead = await dead_consumers(broker) if phase.running else []
        dependencies = phase.running and await ready()
        stalled = (
            await stalled_queues(broker, progress, queue_names(broker)) if dependencies else []
        )
        checks: dict[str, Any] = {
            "running": phase.running,
            "dependencies": dependencies,
            "consumers": phase.running and not dead,
            "progress": phase.running and not stalled,
        }
        if dead:
            checks["queues_without_consumer"] = dead
        if stalled:
            checks["stalled_queues"] = stalled
        ok = all(checks[k] for k in ("running", "dependencies", "consumers", "progress"))
        return AsgiResponse(
            json.dumps({"ready": ok, **checks}).encode(),
            status_code=200 if ok else 503,
            headers={"content-type": "application/json"},
        )

    @get(include_in_schema=False)
    async def metrics_endpoint(scope: Scope) -> AsgiResponse:
        return AsgiResponse(
            metrics_text(registries), status_code=200, headers={"content-type": CONTENT_TYPE_LATEST}
        )

    # A broker-less AsgiFastStream: just its router; serve() runs the app itself.
    return AsgiFastStream(
        asgi_routes=[("/healthz", healthz), ("/readyz", readyz), ("/metrics", metrics_endpoint)],
        logger=log,
    )


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: ``process.serve`` owns the signals (uvicorn
    would re-raise SIGTERM after shutting down, so the process would not exit 0)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class PortTaken(Exception):
    """The HTTP port cannot be listened on (another process has it, for one)."""


class HttpServer:
    """The endpoints served in the service's own event loop."""

    def __init__(self, app: AsgiFastStream, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.address = f"http://{host}:{port}"
        self._server = QuietServer(
            uvicorn.Config(
                app, host=host, port=port, lifespan="off", log_level="warning", access_log=False
            )
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Returns once it listens; ``PortTaken`` if it can't. The socket is bound here, not
        by uvicorn, which would end the whole process (``sys.exit``) from inside its task."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise PortTaken(f"cannot listen on {self.address}: {exc.strerror}") from None
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.05)
        log.info("health and metrics on %s", self.address)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
