"""``python -m invoicebus.gateway``: the app on uvicorn at ``INVOICEBUS_HTTP_HOST`` and
``INVOICEBUS_GATEWAY_PORT``, until SIGTERM or SIGINT; then no new connections, the requests in
flight finish (up to ``shutdown_timeout_seconds``) and the process exits 0."""

from __future__ import annotations

import asyncio
import logging
import signal

import uvicorn

from ..runtime import tracing
from ..runtime.http import QuietServer
from ..runtime.logs import configure_logging
from ..settings import Settings
from .app import create_app

log = logging.getLogger("invoicebus.gateway")


async def serve(settings: Settings) -> int:
    config = uvicorn.Config(
        create_app(settings),
        host=settings.http_host,
        port=settings.gateway_port,
        lifespan="on",
        log_config=None,  # our handlers (JSON or text), not uvicorn's
        access_log=False,  # the metrics count requests; a line each would drown the logs
        timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds),
        server_header=False,
    )
    server = QuietServer(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    log.info("gateway on http://%s:%d (docs at /docs)", settings.http_host, settings.gateway_port)
    await server.serve()
    if not server.started:
        log.error("cannot start: see the line above (is the port taken?)")
        return 1
    log.info("stopped")
    return 0


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    if tracing.start_from_environment("invoicebus-gateway"):
        log.info("tracing on")
    try:
        code = asyncio.run(serve(settings))
    finally:
        tracing.shutdown()
    raise SystemExit(code)
