"""What both services share to run: the broker they consume with and the process around it.

The command and query apps build their brokers with ``make_broker`` and run with ``serve``, so
reconnection, metrics, health endpoints, the consumer watchdog and graceful shutdown are set
up in one place:

- ``make_broker``: confirmed publishing, 1 s reconnects, a graceful stop that waits for
  in-flight messages, and FastStream's Prometheus middleware on a registry of its own.
- ``serve``: starts the HTTP server (``/healthz``, ``/readyz``, ``/metrics``), then the app,
  then the consumer watchdog; on SIGTERM or SIGINT it stops consuming, lets in-flight messages
  finish and settle (up to ``shutdown_timeout_seconds``), closes everything and returns, so
  the process exits 0.
- The watchdog answers FastStream issue #2758 (subscribers left without a consumer after a
  recovery): a subscriber whose consumer tag is missing from its live channel on two checks
  in a row is restarted (queue re-declared, ``basic.consume`` again). aio-pika >= 10.2.1
  already restores consumers after reconnects and server-side cancels; this covers the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import weakref
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from faststream import FastStream
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import Scope
from faststream.rabbit import RabbitBroker
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from faststream.rabbit.subscriber import RabbitSubscriber
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector
from prometheus_client import generate_latest as prometheus_text
from pymongo import AsyncMongoClient

from invoicebus.querying.fields import Document

from . import metrics
from .adapters.errors import is_transient
from .settings import Settings

log = logging.getLogger(__name__)

Readiness = Callable[[], Awaitable[bool]]

#: How often the watchdog looks at the consumers, and how many failed looks restart one
#: (aio-pika gets the first chance: it restores consumers itself after a reconnect).
WATCHDOG_INTERVAL_SECONDS = 5.0
WATCHDOG_STRIKES = 2
#: Upper bound of each readiness probe, so /readyz answers quickly while a server is away.
PROBE_TIMEOUT_SECONDS = 2.0

_registries: weakref.WeakKeyDictionary[RabbitBroker, CollectorRegistry] = (
    weakref.WeakKeyDictionary()
)


def make_broker(settings: Settings, *, service: str, logger: logging.Logger) -> RabbitBroker:
    """A broker with publisher confirms (aio-pika's default), fast reconnects, Prometheus
    metrics, and a graceful shutdown that waits up to ``shutdown_timeout_seconds`` for
    in-flight messages."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    broker = RabbitBroker(
        settings.amqp_url,
        graceful_timeout=settings.shutdown_timeout_seconds,
        reconnect_interval=1.0,
        logger=logger,
        app_id=f"invoicebus-{service}",
        middlewares=[
            RabbitPrometheusMiddleware(registry=registry, app_name=f"invoicebus-{service}")
        ],
    )
    _registries[broker] = registry
    return broker


def metrics_text(broker: RabbitBroker) -> bytes:
    """Everything ``/metrics`` shows: the broker's message metrics and the service counters."""
    registries = [r for r in (_registries.get(broker), metrics.REGISTRY) if r is not None]
    return b"".join(prometheus_text(r) for r in registries)


def readiness(app: FastStream) -> Readiness:
    """Ready while the app's broker connection is up and its database (the Mongo client in
    the app context as ``mongo``) answers a ping."""
    broker = app.broker
    mongo: AsyncMongoClient[Document] = app.context.get("mongo")

    async def ready() -> bool:
        if broker is None or not await broker.ping(timeout=PROBE_TIMEOUT_SECONDS):
            return False
        try:
            await asyncio.wait_for(mongo.admin.command("ping"), PROBE_TIMEOUT_SECONDS)
        except Exception:
            return False
        return True

    return ready


# -- consumer watchdog ---------------------------------------------------------------------


async def consumer_alive(subscriber: RabbitSubscriber) -> bool:
    """Whether the subscriber's consumer tag is registered on its live AMQP channel.

    Reads FastStream's private ``_queue_obj``/``_consumer_tag`` (pinned: faststream 0.7.x).
    """
    queue = subscriber._queue_obj
    tag = subscriber._consumer_tag
    if not subscriber.running or queue is None or tag is None or queue.channel.is_closed:
        return False
    try:
        channel = await asyncio.wait_for(queue.channel.get_underlay_channel(), 1.0)
    except Exception:
        return False
    consumers: dict[str, Any] = getattr(channel, "consumers", {})  # aiormq.Channel's table
    return tag in consumers


def subscribers(broker: RabbitBroker) -> Iterator[RabbitSubscriber]:
    for subscriber in broker.subscribers:
        if isinstance(subscriber, RabbitSubscriber):
            yield subscriber


async def dead_consumers(broker: RabbitBroker) -> list[str]:
    """Names of the queues whose subscriber has no consumer on the broker right now."""
    return [s.queue.name for s in subscribers(broker) if not await consumer_alive(s)]


async def restart_subscriber(subscriber: RabbitSubscriber) -> None:
    try:
        await subscriber.stop()  # cancels what is left; waits for its in-flight messages
    except Exception as exc:
        log.warning("stopping subscriber %s failed (%r)", subscriber.queue.name, exc)
        subscriber._consumer_tag = None
        subscriber._queue_obj = None
    await subscriber.start()  # re-declares the queue and its binding, then basic.consume


async def watch_consumers(
    broker: RabbitBroker,
    *,
    interval: float = WATCHDOG_INTERVAL_SECONDS,
    strikes: int = WATCHDOG_STRIKES,
) -> None:
    """Restart every subscriber found without a consumer ``strikes`` times in a row."""
    misses: dict[str, int] = {}
    while True:
        await asyncio.sleep(interval)
        if not await broker.ping(timeout=PROBE_TIMEOUT_SECONDS):
            continue  # the connection itself is down: aio-pika's reconnect handles that
        for subscriber in subscribers(broker):
            name = subscriber.queue.name
            if await consumer_alive(subscriber):
                misses.pop(name, None)
                continue
            misses[name] = misses.get(name, 0) + 1
            if misses[name] < strikes:
                continue
            log.warning("watchdog: queue %s has no consumer; restarting its subscriber", name)
            try:
                await restart_subscriber(subscriber)
            except Exception:
                log.exception("watchdog: restarting the subscriber of %s failed", name)
            else:
                metrics.CONSUMER_RESTARTS.labels(name).inc()
                misses.pop(name, None)


# -- HTTP: health, readiness, metrics --------------------------------------------------------


@dataclass
class Phase:
    running: bool = False  # started and not yet stopping


def health_app(broker: RabbitBroker, ready: Readiness, phase: Phase) -> AsgiFastStream:
    """``/healthz`` (the process answers), ``/readyz`` (200 only while it can do its work)
    and ``/metrics`` (Prometheus text)."""

    @get(include_in_schema=False)
    async def healthz(scope: Scope) -> AsgiResponse:
        return AsgiResponse(b"ok\n", status_code=200, headers={"content-type": "text/plain"})

    @get(include_in_schema=False)
    async def readyz(scope: Scope) -> AsgiResponse:
        dead = await dead_consumers(broker) if phase.running else []
        checks: dict[str, Any] = {
            "running": phase.running,
            "dependencies": phase.running and await ready(),
            "consumers": phase.running and not dead,
        }
        if dead:
            checks["queues_without_consumer"] = dead
        ok = checks["running"] and checks["dependencies"] and checks["consumers"]
        return AsgiResponse(
            json.dumps({"ready": ok, **checks}).encode(),
            status_code=200 if ok else 503,
            headers={"content-type": "application/json"},
        )

    @get(include_in_schema=False)
    async def metrics_endpoint(scope: Scope) -> AsgiResponse:
        return AsgiResponse(
            metrics_text(broker), status_code=200, headers={"content-type": CONTENT_TYPE_LATEST}
        )

    # A broker-less AsgiFastStream: just its router; serve() runs the app itself.
    return AsgiFastStream(
        asgi_routes=[("/healthz", healthz), ("/readyz", readyz), ("/metrics", metrics_endpoint)],
        logger=log,
    )


class _HttpServer(uvicorn.Server):
    """uvicorn without its own signal handling: ``serve`` owns the signals (uvicorn would
    re-raise SIGTERM after shutting down, so the process would not exit 0)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


# -- the process -----------------------------------------------------------------------------


async def serve(app: FastStream, settings: Settings, *, http_port: int, ready: Readiness) -> None:
    """Run ``app`` until SIGINT/SIGTERM, then stop it gracefully and return.

    ``http_port`` 0 means no HTTP server. The HTTP server starts first, so ``/healthz``
    answers (and ``/readyz`` says 503) while the app is still starting.
    """
    broker = app.broker
    assert isinstance(broker, RabbitBroker)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    phase = Phase()
    http: _HttpServer | None = None
    http_task: asyncio.Task[None] | None = None
    watchdog: asyncio.Task[None] | None = None
    try:
        if http_port:
            http = _HttpServer(
                uvicorn.Config(
                    health_app(broker, ready, phase),
                    host=settings.http_host,
                    port=http_port,
                    lifespan="off",
                    log_level="warning",
                    access_log=False,
                )
            )
            http_task = asyncio.create_task(http.serve())
            await _started(http, http_task)
            log.info("health and metrics on http://%s:%d", settings.http_host, http_port)
        try:
            await app.start()
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.error("cannot start: RabbitMQ or the database is unreachable (%s)", exc)
            raise SystemExit(1) from None  # the supervisor restarts the service
        phase.running = True
        watchdog = asyncio.create_task(watch_consumers(broker))
        log.info("running")
        await stop.wait()
        log.info("stopping: no new messages; waiting for the ones in flight")
    finally:
        phase.running = False
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        await app.stop()
        if http is not None and http_task is not None:
            http.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await http_task
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        log.info("stopped")


async def _started(http: _HttpServer, task: asyncio.Task[None]) -> None:
    while not http.started:
        if task.done():  # it could not bind its port, for instance
            task.result()
            raise RuntimeError("the HTTP server stopped while starting")
        await asyncio.sleep(0.05)


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
