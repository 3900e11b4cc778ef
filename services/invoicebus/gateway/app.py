"""The gateway's FastAPI app: the operations (``routes``), ``/openapi.json`` and ``/docs``,
and ``/healthz`` (the process answers), ``/readyz`` (200 while the broker connection is up)
and ``/metrics`` (its own registry, like each service's)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector
from prometheus_client import generate_latest as prometheus_text

from invoicebus_client import InvoicebusClient

from .. import metrics
from ..settings import Settings
from . import docs, observe, openapi
from .bus import Bus
from .errors import Refused, on_invalid_parameters, on_refused
from .routes import router

log = logging.getLogger("invoicebus.gateway")

#: Tries of a publish the broker did not confirm: few, the caller is waiting (and retries).
PUBLISH_ATTEMPTS = 2
#: Seconds /readyz may spend (re)opening the broker connection.
READY_PROBE_SECONDS = 3.0


def make_client(settings: Settings) -> InvoicebusClient:
    """The one connection every request shares; it connects with the gateway's own broker user
    (``INVOICEBUS_GATEWAY_AMQP_URL``, else ``AMQP_URL``), which sends the messages' user_id."""
    return InvoicebusClient(
        settings.gateway_amqp_url or settings.amqp_url,
        settings.prefix,
        publish_attempts=PUBLISH_ATTEMPTS,
    )


def create_app(settings: Settings, client: InvoicebusClient | None = None) -> FastAPI:
    """The app; it connects when it starts (its lifespan), not here, so the OpenAPI document
    can be made without a broker."""
    client = client or make_client(settings)
    bus = Bus(client, settings.gateway_reply_timeout_seconds)
    process = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=process)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A broker down at start is not fatal: /readyz says 503 and requests 503 until it is up.
        if not await client.connected(READY_PROBE_SECONDS):
            log.warning(
                "not ready: the broker is unreachable or the topology is not declared yet"
                " (the services declare it); /readyz says 503 until it is"
            )
        yield
        await client.close()

    app = FastAPI(
        title=openapi.TITLE,
        version=openapi.VERSION,
        lifespan=lifespan,
        docs_url=None,  # served from local files (``docs``)
        redoc_url=None,
    )
    app.state.bus = bus
    app.add_exception_handler(Refused, on_refused)
    app.add_exception_handler(RequestValidationError, on_invalid_parameters)
    app.include_router(router(bus))

    async def healthz() -> Response:
        return Response(b"ok\n", media_type="text/plain")

    async def readyz() -> Response:
        up = await client.connected(READY_PROBE_SECONDS)
        body = json.dumps({"ready": up, "broker": up}).encode()
        return Response(body, status_code=200 if up else 503, media_type="application/json")

    async def metrics_endpoint() -> Response:
        text = prometheus_text(metrics.GATEWAY) + prometheus_text(process)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    for path, endpoint in (
        ("/healthz", healthz),
        ("/readyz", readyz),
        ("/metrics", metrics_endpoint),
    ):
        app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)
    openapi.install(app)
    docs.install(app, openapi.TITLE)
    observe.install(app)
    return app
