"""Running one service as a process: until SIGTERM or SIGINT, then a graceful stop.

The HTTP server starts first (``/healthz`` answers and ``/readyz`` says 503 while the app is
still starting), then the app, then the consumer watchdog. On a signal it stops consuming,
lets in-flight messages finish and settle (up to ``shutdown_timeout_seconds``), closes
everything and returns, so the process exits 0. A service that cannot reach RabbitMQ or the
database at start says so in one line and exits 1 (its supervisor restarts it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from .. import metrics
from ..adapters.errors import is_transient
from ..settings import Settings
from . import tracing
from .http import HttpServer, Phase, PortTaken, health_app
from .logs import configure_logging
from .readiness import readiness
from .service import Service
from .watchdog import subscribers, watch_consumers

# The package's logger, as before runtime.py was split: operators (and tests) look for it.
log = logging.getLogger(__package__)


async def serve(service: Service, *, http_port: int) -> None:
    """Run ``service`` until SIGINT/SIGTERM, then stop it gracefully and return.

    ``http_port`` 0 means no HTTP server.
    """
    connections = service.connections
    broker = connections.broker
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    phase = Phase()
    http: HttpServer | None = None
    watchdog: asyncio.Task[None] | None = None
    try:
        if http_port:
            ready = readiness(broker, connections.mongo)
            registries = [connections.broker_metrics, metrics.RUNTIME, service.metrics]
            endpoints = health_app(broker, ready, phase, registries, connections.progress)
            http = HttpServer(endpoints, connections.settings.http_host, http_port)
            try:
                await http.start()
            except PortTaken as exc:
                log.error("cannot start: %s (set another port, or 0 for none)", exc)
                raise SystemExit(1) from None
        try:
            await service.app.start()
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.error("cannot start: RabbitMQ or the database is unreachable (%s)", exc)
            raise SystemExit(1) from None  # the supervisor restarts the service
        phase.running = True
        watchdog = asyncio.create_task(watch_consumers(broker))
        for subscriber in subscribers(broker):
            log.info("consuming %s", subscriber.queue.name, extra={"queue": subscriber.queue.name})
        log.info("running")
        await stop.wait()
        log.info("stopping: no new messages; waiting for the ones in flight")
    finally:
        phase.running = False
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        await service.app.stop()
        if http is not None:
            await http.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        log.info("stopped")


def main(
    create: Callable[[Settings], Service], *, name: str, http_port: Callable[[Settings], int]
) -> None:
    """The entry point of the service ``name``: settings, logging and tracing from the
    environment, then ``serve``."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    if tracing.start_from_environment(f"invoicebus-{name}"):
        log.info("tracing on")
    try:
        asyncio.run(serve(create(settings), http_port=http_port(settings)))
    finally:
        tracing.shutdown()
