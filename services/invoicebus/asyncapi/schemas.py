"""``components/schemas``: the contract models' own JSON schemas (pydantic), and the headers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from invoicebus_contracts import (
    COMMAND_MODELS,
    ENTITY_ID_PATTERN,
    LIST_REPLY_MODELS,
    RESOURCE_MODELS,
    ErrorBody,
    ErrorCode,
    Header,
    ListRequest,
    Rejected,
    ReplayReply,
    ReplayRequest,
    Resource,
    Topology,
)
from invoicebus_contracts.fields import decimal_to_json

from .names import SCHEMA_REF

STATUSES = sorted({200, 201, *(code.status for code in ErrorCode)})


def schemas() -> dict[str, Any]:
    """Every payload schema, with shared definitions under ``components/schemas``."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((m, "validation") for m in COMMAND_MODELS.values()),
        (ListRequest, "validation"),
        *((m, "serialization") for m in RESOURCE_MODELS.values()),
        *((m, "serialization") for m in LIST_REPLY_MODELS.values()),
        (Rejected, "serialization"),
        (ErrorBody, "serialization"),
        (ReplayRequest, "validation"),
        (ReplayReply, "serialization"),
    ]
    keys, top = models_json_schema(models, ref_template=SCHEMA_REF)
    found: dict[str, Any] = _tidy(top.get("$defs", {}))
    for (model, mode), schema in keys.items():
        name = schema["$ref"].rsplit("/", 1)[-1]
        assert name in found, f"{model.__name__} ({mode}) has no schema"
    return dict(sorted(found.items()))


def schema_name(model: type[BaseModel], mode: JsonSchemaMode) -> str:
    """The name ``schemas()`` gives a model's schema (pydantic's, e.g. ``ListReply_Customer_``)."""
    keys, _ = models_json_schema([(model, mode)], ref_template=SCHEMA_REF)
    ref: str = next(iter(keys.values()))["$ref"]
    return ref.rsplit("/", 1)[-1]


#: pydantic leaves Decimal constraints as its own keywords; these are their JSON Schema names.
_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _tidy(schema: Any) -> Any:
    """Decimal fields as the wire has them: JSON numbers with standard bounds, their decimal
    places under ``x-decimal-places``."""
    if isinstance(schema, list):
        return [_tidy(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "decimal_places" not in schema:
        return {key: _tidy(value) for key, value in schema.items()}
    number: dict[str, Any] = {"type": "number"}
    for key, value in schema.items():
        if key in _BOUNDS:
            number[_BOUNDS[key]] = Decimal(str(value))
        elif key == "decimal_places":
            number["x-decimal-places"] = value
        elif key != "anyOf":
            number[key] = value
    return {k: decimal_to_json(v) if isinstance(v, Decimal) else v for k, v in number.items()}


def header_schemas(topology: Topology) -> dict[str, Any]:
    entity_id = {
        "type": "string",
        "pattern": ENTITY_ID_PATTERN,
        "description": "The entity the message acts on. Optional on commands and list requests:"
        " the first entity granted to the sender by default. An unknown id, or one the sender"
        " holds no grant for, is entity_not_found (404).",
    }
    key_sha256 = {
        "type": "string",
        "pattern": "^[0-9a-f]{64}$",
        "description": "Only from a trusted gateway (INVOICEBUS_GATEWAYS): the SHA-256 (hex)"
        " of its caller's API key; the services act as that key's principal. Ignored from"
        " anyone else; an unknown or revoked key is unauthenticated (401).",
    }
    # Optional on every message: the services continue the trace it names and send their own
    # on what they publish.
    trace_context = {
        Header.TRACEPARENT.value: {
            "type": "string",
            "description": "W3C trace context (version-trace id-parent id-flags), optional.",
            "examples": ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
        },
        Header.TRACESTATE.value: {
            "type": "string",
            "description": "W3C trace state that goes with traceparent, optional.",
        },
    }
    return {
        "RequestHeaders": {
            "type": "object",
            "description": "The sender is the AMQP user_id property, which RabbitMQ checks"
            " against the connection's user; with INVOICEBUS_AUTH=required a request"
            " without it is unauthenticated (401).",
            "properties": {
                Header.ENTITY_ID.value: entity_id,
                Header.KEY_SHA256.value: key_sha256,
                **trace_context,
            },
        },
        "ReplyHeaders": {
            "type": "object",
            "required": [Header.STATUS.value],
            "properties": {
                Header.STATUS.value: {
                    "type": "integer",
                    "enum": STATUSES,
                    "description": "HTTP-style status: 200 list, 201 created, 4xx refused,"
                    " 500 internal error, 503 no answer within the time budget.",
                },
                **trace_context,
            },
        },
        "EventHeaders": {
            "type": "object",
            "required": [Header.EVENT_TYPE.value],
            "properties": {
                Header.EVENT_TYPE.value: {
                    "type": "string",
                    "description": "The routing key, e.g. customer.created.",
                },
                Header.ENTITY_ID.value: entity_id,
                **trace_context,
            },
        },
        "DeadLetterHeaders": {
            "type": "object",
            "description": "The original message's headers plus why it was refused. Messages"
            " the broker dead-lettered itself (delivery limit reached) carry x-death instead.",
            "properties": {
                Header.ERROR_CODE.value: {"type": "string", "enum": [c.value for c in ErrorCode]},
                Header.ERROR_MESSAGE.value: {"type": "string"},
                Header.ERROR.value: {"type": "string", "description": "The error body as JSON."},
                Header.ORIGINAL_EXCHANGE.value: {
                    "type": "string",
                    "examples": [topology.commands_exchange],
                },
                Header.ORIGINAL_ROUTING_KEY.value: {
                    "type": "string",
                    "examples": [Resource.CUSTOMER.create_key],
                },
                Header.DEAD_LETTERED_AT.value: {"type": "string", "format": "date-time"},
                Header.ENTITY_ID.value: entity_id,
                "x-death": {"type": "array", "items": {"type": "object"}},
            },
        },
    }
