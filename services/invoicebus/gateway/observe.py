"""Metrics and traces of the HTTP side: a request counter and a latency histogram per route
template (never per raw path, which a caller could make unbounded), and, when tracing is on,
OpenTelemetry's FastAPI instrumentation, whose server span the SDK's publish continues: one
trace from the HTTP request through the bus to the service."""

from __future__ import annotations

import time

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import metrics
from ..runtime import tracing

#: Not traced: probes and scrapes would each make a trace of one span.
UNTRACED = "healthz,readyz,metrics,docs,openapi.json"


class Metrics:
    """Pure ASGI middleware (no per-request task, unlike Starlette's BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            if not route.startswith("/docs/"):
                method = scope["method"]
                metrics.GATEWAY_REQUESTS.labels(method, route, str(status)).inc()
                metrics.GATEWAY_LATENCY.labels(method, route).observe(time.perf_counter() - started)


def install(app: FastAPI) -> None:
    app.add_middleware(Metrics)
    provider = tracing.provider()
    if provider is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED)
