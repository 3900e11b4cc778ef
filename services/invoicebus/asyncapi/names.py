"""What the builders share: ``$ref`` helpers, the AMQP binding version, and the component name
of every message, so channels and operations point at exactly the messages that exist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from invoicebus_contracts import COMMAND_MODELS, Resource

AMQP_BINDING = "0.3.0"
SCHEMA_REF = "#/components/schemas/{model}"


def ref(path: str) -> dict[str, str]:
    return {"$ref": path}


def message_ref(name: str) -> dict[str, str]:
    return ref(f"#/components/messages/{name}")


def schema_ref(name: str) -> dict[str, str]:
    return ref(SCHEMA_REF.format(model=name))


def amqp(**binding: Any) -> dict[str, Any]:
    """An AMQP binding object of the version this document uses."""
    return {"amqp": {**binding, "bindingVersion": AMQP_BINDING}}


@dataclass(frozen=True)
class Messages:
    """The component names of one resource's messages."""

    resource: Resource

    @property
    def title(self) -> str:
        return self.resource.value.capitalize()

    @property
    def command(self) -> str:
        return COMMAND_MODELS[self.resource].__name__

    @property
    def created(self) -> str:
        return f"{self.title}Created"

    @property
    def rejected(self) -> str:
        return f"{self.title}Rejected"

    @property
    def reply(self) -> str:
        return f"{self.title}Reply"

    @property
    def list_request(self) -> str:
        return f"List{self.title}Request"

    @property
    def page(self) -> str:
        return f"{self.title}Page"

    def events(self) -> tuple[tuple[str, str, str], ...]:
        """(routing key, message name, verb) of each event the resource's command causes."""
        return (
            (self.resource.created_key, self.created, "Created"),
            (self.resource.rejected_key, self.rejected, "Rejected"),
        )


ERROR_REPLY = "ErrorReply"
DEAD_LETTER = "DeadLetter"
REPLAY_REQUEST = "ReplayEventsRequest"
REPLAY_REPLY = "ReplayEventsReply"
