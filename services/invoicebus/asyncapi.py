"""The AsyncAPI 3.0 document of the wire contract, generated from the contract itself.

Payload schemas are the contract models' own JSON schemas (pydantic), addresses come from
``Topology`` and ``Resource``, header names from ``Header``, so the document cannot drift from
what the services accept and send. It is built here rather than by FastStream's generator:
that one describes a FastStream app's own subscribers and publishers, while this contract is
larger than the handlers (raw-bytes consumers, replies to ``reply_to`` with an ``x-status``
header, events published through an outbox, the dead-letter queue) and is what clients in
other languages read. ``invoicebus asyncapi --yaml -o docs/asyncapi.yaml`` refreshes the
committed copy; a unit test fails when it is stale.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from invoicebus_contracts import (
    CONTENT_TYPE,
    DEFAULT_PREFIX,
    CreateCustomer,
    CreateEntity,
    CreateItem,
    CreateTax,
    Customer,
    Entity,
    ErrorBody,
    ErrorCode,
    Header,
    Item,
    ListReply,
    ListRequest,
    Rejected,
    Resource,
    Tax,
    Topology,
)
from invoicebus_contracts.fields import decimal_to_json

VERSION = "1.0.0"  # of the wire contract: "Wire contract v1"
AMQP_BINDING = "0.3.0"
REF = "#/components/schemas/{model}"

COMMANDS: dict[Resource, type[BaseModel]] = {
    Resource.ENTITY: CreateEntity,
    Resource.CUSTOMER: CreateCustomer,
    Resource.TAX: CreateTax,
    Resource.ITEM: CreateItem,
}
RESOURCES: dict[Resource, type[BaseModel]] = {
    Resource.ENTITY: Entity,
    Resource.CUSTOMER: Customer,
    Resource.TAX: Tax,
    Resource.ITEM: Item,
}
PAGES: dict[Resource, type[BaseModel]] = {
    Resource.ENTITY: ListReply[Entity],
    Resource.CUSTOMER: ListReply[Customer],
    Resource.TAX: ListReply[Tax],
    Resource.ITEM: ListReply[Item],
}
STATUSES = sorted({200, 201, *(code.status for code in ErrorCode)})


def _title(resource: Resource) -> str:
    return resource.value.capitalize()


def _ref(path: str) -> dict[str, str]:
    return {"$ref": path}


def schemas() -> dict[str, Any]:
    """Every payload schema, with shared definitions under ``components/schemas``."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((m, "validation") for m in COMMANDS.values()),
        (ListRequest, "validation"),
        *((m, "serialization") for m in RESOURCES.values()),
        *((m, "serialization") for m in PAGES.values()),
        (Rejected, "serialization"),
        (ErrorBody, "serialization"),
    ]
    keys, top = models_json_schema(models, ref_template=REF)
    found: dict[str, Any] = _tidy(top.get("$defs", {}))
    for (model, mode), schema in keys.items():
        name = schema["$ref"].rsplit("/", 1)[-1]
        assert name in found, f"{model.__name__} ({mode}) has no schema"
    return dict(sorted(found.items()))


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


def _name_of(model: type[BaseModel], mode: JsonSchemaMode) -> str:
    """The name ``schemas()`` gives a model's schema (pydantic's, e.g. ``ListReply_Customer_``)."""
    keys, _ = models_json_schema([(model, mode)], ref_template=REF)
    ref: str = next(iter(keys.values()))["$ref"]
    return ref.rsplit("/", 1)[-1]


def header_schemas(topology: Topology) -> dict[str, Any]:
    entity_id = {
        "type": "string",
        "pattern": "^ent_[0-9a-f]{24}$",
        "description": "The entity the message acts on. Optional on commands and list requests:"
        " the first created entity by default. An unknown id is entity_not_found (404).",
    }
    return {
        "RequestHeaders": {
            "type": "object",
            "properties": {Header.ENTITY_ID.value: entity_id},
        },
        "ReplyHeaders": {
            "type": "object",
            "required": [Header.STATUS.value],
            "properties": {
                Header.STATUS.value: {
                    "type": "integer",
                    "enum": STATUSES,
                    "description": "HTTP-style status: 200 list, 201 created, 4xx refused,"
                    " 500 internal error.",
                }
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


def _exchange(name: str, kind: str) -> dict[str, Any]:
    return {
        "amqp": {
            "is": "routingKey",
            "exchange": {"name": name, "type": kind, "durable": True, "autoDelete": False},
            "bindingVersion": AMQP_BINDING,
        }
    }


def _delivery(persistent: bool) -> dict[str, Any]:
    """Operation bindings: how the messages of an operation are published."""
    return {"amqp": {"deliveryMode": 2 if persistent else 1, "bindingVersion": AMQP_BINDING}}


def _message(
    name: str,
    title: str,
    payload: str,
    headers: str,
    summary: str,
    *,
    correlated: bool = False,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": name,
        "title": title,
        "summary": summary,
        "contentType": CONTENT_TYPE,
        "headers": _ref(f"#/components/schemas/{headers}"),
        "payload": _ref(f"#/components/schemas/{payload}"),
    }
    if correlated:
        message["correlationId"] = {
            "description": "The AMQP correlation_id property: the request's message_id (or"
            " correlation_id, when the request set one).",
            "location": "$message.header#/correlation_id",
        }
    message["bindings"] = {"amqp": {"messageType": name, "bindingVersion": AMQP_BINDING}}
    return message


def document(prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    topology = Topology(prefix)
    components = {**schemas(), **header_schemas(topology)}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    reply_messages: dict[str, Any] = {}

    error = _message(
        "error", "Error reply", "ErrorBody", "ReplyHeaders",
        "The request was refused (x-status 4xx) or failed (500).",
        correlated=True,
    )  # fmt: skip
    messages["ErrorReply"] = error
    reply_messages["ErrorReply"] = _ref("#/components/messages/ErrorReply")

    for resource in Resource:
        title = _title(resource)
        command = COMMANDS[resource].__name__
        created = RESOURCES[resource].__name__
        page = _name_of(PAGES[resource], "serialization")
        events = (
            (resource.created_key, f"{title}Created", "Created"),
            (resource.rejected_key, f"{title}Rejected", "Rejected"),
        )
        messages[command] = _message(
            resource.create_key, f"{command} command", command, "RequestHeaders",
            f"Create a {resource.value}. message_id is its idempotency key; set reply_to and"
            " correlation_id for a reply.",
        )  # fmt: skip
        messages[f"{title}Created"] = _message(
            resource.created_key, f"{title} created", created, "EventHeaders",
            f"A {resource.value} was created; the body is the resource. message_id is a unique"
            " event id (evt_...), correlation_id the command's message_id.",
            correlated=True,
        )  # fmt: skip
        messages[f"{title}Rejected"] = _message(
            resource.rejected_key, f"{title} rejected", "Rejected", "EventHeaders",
            f"A {resource.create_key} command was refused; command_id is its message_id.",
            correlated=True,
        )  # fmt: skip
        messages[f"{title}Reply"] = _message(
            f"{resource.value}.reply", f"{title} created reply", created, "ReplyHeaders",
            f"Reply to {resource.create_key} with x-status 201.",
            correlated=True,
        )  # fmt: skip
        messages[f"List{title}Request"] = _message(
            resource.list_key, f"List {resource.value} request", "ListRequest",
            "RequestHeaders",
            "One page of the entity's resources. reply_to and correlation_id are required.",
        )  # fmt: skip
        messages[f"{title}Page"] = _message(
            f"{resource.value}.page", f"{title} page", page, "ReplyHeaders",
            f"Reply to {resource.list_key} with x-status 200.",
            correlated=True,
        )  # fmt: skip
        for name in (f"{title}Reply", f"{title}Page"):
            reply_messages[name] = _ref(f"#/components/messages/{name}")

        channels[resource.create_key] = {
            "address": resource.create_key,
            "title": f"{resource.create_key} on {topology.commands_exchange}",
            "description": f"Commands are published to the topic exchange"
            f" {topology.commands_exchange} with routing key {resource.create_key}; they wait"
            f" in the durable quorum queue {topology.command_queue(resource)}.",
            "messages": {command: _ref(f"#/components/messages/{command}")},
            "bindings": _exchange(topology.commands_exchange, "topic"),
        }
        for key, name, _ in events:
            channels[key] = {
                "address": key,
                "title": f"{key} on {topology.events_exchange}",
                "description": f"Events on the topic exchange {topology.events_exchange}; bind"
                " your own queue with this routing key (or a pattern such as"
                f" {resource.value}.*).",
                "messages": {name: _ref(f"#/components/messages/{name}")},
                "bindings": _exchange(topology.events_exchange, "topic"),
            }
        channels[resource.list_key] = {
            "address": resource.list_key,
            "title": f"{resource.list_key} on {topology.queries_exchange}",
            "description": f"List requests to the direct exchange {topology.queries_exchange}"
            f" with routing key {resource.list_key}.",
            "messages": {f"List{title}Request": _ref(f"#/components/messages/List{title}Request")},
            "bindings": _exchange(topology.queries_exchange, "direct"),
        }

        reply = {
            "address": {
                "description": "The request's reply_to property, e.g. amq.rabbitmq.reply-to"
                " (direct reply-to); the reply carries the request's correlation_id.",
                "location": "$message.header#/reply_to",
            },
            "channel": _ref("#/channels/reply"),
        }
        operations[f"create{title}"] = {
            "action": "receive",
            "title": f"Create a {resource.value}",
            "channel": _ref(f"#/channels/{resource.create_key}"),
            "messages": [_ref(f"#/channels/{resource.create_key}/messages/{command}")],
            "bindings": _delivery(persistent=True),
            "reply": {
                **reply,
                "messages": [
                    _ref(f"#/channels/reply/messages/{title}Reply"),
                    _ref("#/channels/reply/messages/ErrorReply"),
                ],
            },
        }
        for key, name, verb in events:
            operations[f"on{title}{verb}"] = {
                "action": "send",
                "title": f"{title} {verb.lower()}",
                "channel": _ref(f"#/channels/{key}"),
                "messages": [_ref(f"#/channels/{key}/messages/{name}")],
                "bindings": _delivery(persistent=True),
            }
        operations[f"list{title}"] = {
            "action": "receive",
            "title": f"List {resource.value} resources",
            "channel": _ref(f"#/channels/{resource.list_key}"),
            "messages": [_ref(f"#/channels/{resource.list_key}/messages/List{title}Request")],
            "bindings": _delivery(persistent=False),
            "reply": {
                **reply,
                "messages": [
                    _ref(f"#/channels/reply/messages/{title}Page"),
                    _ref("#/channels/reply/messages/ErrorReply"),
                ],
            },
        }

    channels["reply"] = {
        "address": None,
        "title": "Replies",
        "description": "Replies go to the request's reply_to address through the default"
        " exchange, with the x-status header and the request's correlation_id.",
        "messages": reply_messages,
    }
    messages["DeadLetter"] = {
        "name": "dead-letter",
        "title": "Dead letter",
        "summary": "A refused or undeliverable command, kept unchanged with the reason in its"
        " headers. Nothing a client sends is silently dropped.",
        "contentType": CONTENT_TYPE,
        "headers": _ref("#/components/schemas/DeadLetterHeaders"),
        "payload": {
            "oneOf": [_ref(f"#/components/schemas/{m.__name__}") for m in COMMANDS.values()]
        },
        "bindings": {"amqp": {"messageType": "dead-letter", "bindingVersion": AMQP_BINDING}},
    }
    channels["dead-letter"] = {
        "address": topology.dead_letter_queue,
        "title": f"The {topology.dead_letter_queue} queue",
        "description": f"Everything published to {topology.dead_letter_exchange} (refused"
        " commands, and messages past the queues' delivery limit) lands in this durable"
        " quorum queue. `invoicebus dlq list` browses it; `invoicebus dlq replay` republishes.",
        "messages": {"DeadLetter": _ref("#/components/messages/DeadLetter")},
        "bindings": {
            "amqp": {
                "is": "queue",
                "queue": {
                    "name": topology.dead_letter_queue,
                    "durable": True,
                    "exclusive": False,
                    "autoDelete": False,
                },
                "bindingVersion": AMQP_BINDING,
            }
        },
    }
    operations["deadLetter"] = {
        "action": "send",
        "title": "Dead-letter a refused command",
        "channel": _ref("#/channels/dead-letter"),
        "messages": [_ref("#/channels/dead-letter/messages/DeadLetter")],
        "bindings": _delivery(persistent=True),
    }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "invoicebus wire contract",
            "version": VERSION,
            "description": "Commands, events and list queries of invoicebus over RabbitMQ."
            f" Names use the prefix {prefix!r} (configurable with INVOICEBUS_PREFIX). Bodies"
            " are UTF-8 JSON; money and rates are JSON numbers with exact decimal meaning.",
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "rabbitmq": {
                "host": "localhost:5672",
                "pathname": "/",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "Any RabbitMQ 3.10+ broker; set AMQP_URL.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": components, "messages": messages},
    }


def render(*, yaml_format: bool = False, prefix: str = DEFAULT_PREFIX) -> str:
    doc = document(prefix)
    if yaml_format:
        text: str = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
        return text
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
