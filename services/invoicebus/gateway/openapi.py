"""The OpenAPI 3.1 document of the gateway, served at ``/openapi.json`` and committed as
``docs/openapi.json`` (``make openapi``; a unit test keeps it current).

FastAPI derives the operations, parameters and responses from the routes (whose models are the
contract's); the request bodies, which the gateway reads as bytes so the services can validate
them, get the command models' JSON Schemas here, and the security scheme is the Bearer key."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from invoicebus_contracts import COMMAND_MODELS
from invoicebus_contracts.limits import MAX_BODY_BYTES

TITLE = "invoicebus API"
VERSION = "1"
DESCRIPTION = (
    "Customers and the product catalog of an invoicing platform, over HTTP. Each request is a"
    " command or list request of the wire contract (docs/wire-contract.md), sent on the bus by"
    " the gateway; replies come back unchanged. Authenticate with `Authorization: Bearer <key>`"
    " (`invoicebus keys create`); act on an entity with `x-entity-id`. Bodies are at most"
    f" {MAX_BODY_BYTES} bytes of JSON."
)
SCHEMAS_REF = "#/components/schemas/{model}"


def document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(
        title=TITLE,
        version=VERSION,
        openapi_version="3.1.0",
        description=DESCRIPTION,
        routes=app.routes,
    )
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for model in COMMAND_MODELS.values():
        schema = model.model_json_schema(ref_template=SCHEMAS_REF, mode="validation")
        for name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas[model.__name__] = schema
    doc["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "An API key"}
    }
    doc["security"] = [{"bearer": []}]
    doc["components"]["schemas"] = dict(sorted(schemas.items()))
    return doc


def render(app: FastAPI) -> str:
    """The document as committed: indented JSON, keys in a stable order, a final newline."""
    return json.dumps(document(app), indent=2, ensure_ascii=False) + "\n"


def install(app: FastAPI) -> None:
    """Serve ``document`` (made once, on first use) at ``/openapi.json``."""

    def cached() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = cached  # type: ignore[method-assign]
