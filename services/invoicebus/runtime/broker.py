"""The RabbitMQ broker both services consume and publish with."""

from __future__ import annotations

import logging

from faststream.rabbit import RabbitBroker
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from prometheus_client import CollectorRegistry, ProcessCollector

from invoicebus_client import pamqp_patch

from ..settings import Settings
from . import tracing


def broker_metrics() -> CollectorRegistry:
    """A registry for one broker's message metrics, with the process's own collectors."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    return registry


def make_broker(
    settings: Settings, *, service: str, logger: logging.Logger, metrics: CollectorRegistry
) -> RabbitBroker:
    """A broker with publisher confirms (aio-pika's default), fast reconnects, Prometheus
    metrics in ``metrics``, traces when they are on (``tracing``), and a graceful shutdown
    that waits up to ``shutdown_timeout_seconds`` for in-flight messages.

    pamqp is patched first (importing the SDK did it already; this says so where it matters):
    one message whose short strings are not UTF-8 must not kill the broker connection."""
    pamqp_patch.install()
    return RabbitBroker(
        settings.amqp_url,
        graceful_timeout=settings.shutdown_timeout_seconds,
        reconnect_interval=1.0,
        logger=logger,
        # FastStream's own lines per message (Received, Processed) and per subscriber
        # (waiting for messages): DEBUG; process.serve names each queue once at INFO.
        log_level=logging.DEBUG,
        app_id=f"invoicebus-{service}",
        # Handlers take the message as it is (adapters/rabbit/consuming.py): no dependency
        # injection, which cost a worker-thread round trip per message.
        apply_types=False,
        middlewares=[
            RabbitPrometheusMiddleware(registry=metrics, app_name=f"invoicebus-{service}"),
            *tracing.broker_middlewares(),
        ],
    )
