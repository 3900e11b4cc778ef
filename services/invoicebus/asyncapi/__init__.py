"""The AsyncAPI 3.0 document of the wire contract, generated from the contract itself.

Payload schemas are the contract models' own JSON schemas (pydantic), addresses and the kinds
of exchanges and queues come from ``Topology`` and its declarations, header names from
``Header``, so the document cannot drift from what the services accept and send. It is built
here rather than by FastStream's generator: that one describes a FastStream app's own
subscribers and publishers, while this contract is larger than the handlers (raw-bytes
consumers, replies to ``reply_to`` with an ``x-status`` header, events published through an
outbox, the dead-letter queue) and is what clients in other languages read.
``invoicebus asyncapi --yaml -o docs/asyncapi.yaml`` refreshes the committed copy; a unit test
fails when it is stale.

Builders, one per part of the document: ``schemas`` (components/schemas), ``messages``
(components/messages), ``channels``, ``operations``; ``names`` holds what they share.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from invoicebus_contracts import CONTENT_TYPE, DEFAULT_PREFIX, Topology

from .channels import channels
from .messages import messages
from .operations import operations
from .schemas import header_schemas, schemas

VERSION = "1.0.0"  # of the wire contract: "Wire contract v1"

__all__ = ["VERSION", "document", "render"]


def document(prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    topology = Topology(prefix)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "invoicebus wire contract",
            "version": VERSION,
            "description": "Commands, events and list queries of invoicebus over RabbitMQ."
            f" Names use the prefix {prefix!r} (configurable with INVOICEBUS_PREFIX). Bodies"
            " are UTF-8 JSON; money and rates are JSON numbers with exact decimal meaning."
            " AMQP properties and header names must be UTF-8 text too: a command or list"
            " request with other bytes there is refused with validation_error.",
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
        # The queue arguments (delivery limit) do not show in the document, so the default
        # declarations describe every deployment.
        "channels": channels(topology, topology.declarations()),
        "operations": operations(),
        "components": {
            "schemas": {**schemas(), **header_schemas(topology)},
            "messages": messages(),
        },
    }


class _Dumper(yaml.SafeDumper):
    """Writes every part out in full: no ``&id001`` anchors and ``*id001`` aliases where the
    builders happen to share an object (readers of the document should not have to chase
    them, and the text should not change when the builders share differently)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(*, yaml_format: bool = False, prefix: str = DEFAULT_PREFIX) -> str:
    doc = document(prefix)
    if yaml_format:
        text: str = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
        return text
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
