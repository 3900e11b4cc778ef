"""``components/messages``: every message of the contract, with its headers and payload."""

from __future__ import annotations

from typing import Any

from invoicebus_contracts import (
    COMMAND_MODELS,
    CONTENT_TYPE,
    LIST_REPLY_MODELS,
    REPLAY_KEY,
    RESOURCE_MODELS,
    Resource,
)

from .names import (
    DEAD_LETTER,
    ERROR_REPLY,
    REPLAY_REPLY,
    REPLAY_REQUEST,
    Messages,
    amqp,
    schema_ref,
)
from .schemas import schema_name


def message(
    name: str,
    title: str,
    payload: str,
    headers: str,
    summary: str,
    *,
    correlated: bool = False,
) -> dict[str, Any]:
    built: dict[str, Any] = {
        "name": name,
        "title": title,
        "summary": summary,
        "contentType": CONTENT_TYPE,
        "headers": schema_ref(headers),
        "payload": schema_ref(payload),
    }
    if correlated:
        built["correlationId"] = {
            "description": "The AMQP correlation_id property: the request's message_id (or"
            " correlation_id, when the request set one).",
            "location": "$message.header#/correlation_id",
        }
    built["bindings"] = amqp(messageType=name)
    return built


def resource_messages(resource: Resource) -> dict[str, Any]:
    """The command, its events and reply, and the list request and page of one resource."""
    names = Messages(resource)
    title, command = names.title, names.command
    created = RESOURCE_MODELS[resource].__name__
    page = schema_name(LIST_REPLY_MODELS[resource], "serialization")
    return {
        command: message(
            resource.create_key, f"{command} command", command, "RequestHeaders",
            f"Create a {resource.value}. message_id is its idempotency key; set reply_to and"
            " correlation_id for a reply.",
        ),
        names.created: message(
            resource.created_key, f"{title} created", created, "EventHeaders",
            f"A {resource.value} was created; the body is the resource. message_id is a unique"
            " event id (evt_...), correlation_id the command's message_id.",
            correlated=True,
        ),
        names.rejected: message(
            resource.rejected_key, f"{title} rejected", "Rejected", "EventHeaders",
            f"A {resource.create_key} command was refused; command_id is its message_id.",
            correlated=True,
        ),
        names.reply: message(
            f"{resource.value}.reply", f"{title} created reply", created, "ReplyHeaders",
            f"Reply to {resource.create_key} with x-status 201.",
            correlated=True,
        ),
        names.list_request: message(
            resource.list_key, f"List {resource.value} request", "ListRequest",
            "RequestHeaders",
            "One page of the entity's resources. reply_to and correlation_id are required.",
        ),
        names.page: message(
            f"{resource.value}.page", f"{title} page", page, "ReplyHeaders",
            f"Reply to {resource.list_key} with x-status 200.",
            correlated=True,
        ),
    }  # fmt: skip


def messages() -> dict[str, Any]:
    """The error reply, every resource's messages, and the dead letter."""
    error = message(
        "error", "Error reply", "ErrorBody", "ReplyHeaders",
        "The request was refused (x-status 4xx) or failed (500).",
        correlated=True,
    )  # fmt: skip
    dead_letter = {
        "name": "dead-letter",
        "title": "Dead letter",
        "summary": "A refused or undeliverable command, kept unchanged with the reason in its"
        " headers. Nothing a client sends is silently dropped.",
        "contentType": CONTENT_TYPE,
        "headers": schema_ref("DeadLetterHeaders"),
        "payload": {"oneOf": [schema_ref(m.__name__) for m in COMMAND_MODELS.values()]},
        "bindings": amqp(messageType="dead-letter"),
    }
    by_resource = {k: v for r in Resource for k, v in resource_messages(r).items()}
    replay = {
        REPLAY_REQUEST: message(
            REPLAY_KEY, "Replay events request", "ReplayRequest", "RequestHeaders",
            "Republish the stored created events of resources created since a time (of one"
            " entity, of some types) to the queue to_queue names, oldest first, each with its"
            " original message_id (the event id), correlation_id, headers and body, as a"
            " subscriber of the events exchange would have received it. reply_to and"
            " correlation_id are required.",
        ),
        REPLAY_REPLY: message(
            "events.replayed", "Replay events reply", "ReplayReply", "ReplyHeaders",
            f"Reply to {REPLAY_KEY} with x-status 200, once every replayed event is confirmed"
            " by the broker; next_cursor continues when has_more.",
            correlated=True,
        ),
    }  # fmt: skip
    return {ERROR_REPLY: error, **by_resource, **replay, DEAD_LETTER: dead_letter}
