"""``operations``: what the services receive (commands, list requests, each with its replies)
and send (events, dead letters)."""

from __future__ import annotations

from typing import Any

from invoicebus_contracts import REPLAY_KEY, Resource

from .channels import DEAD_LETTER_CHANNEL, REPLY, tenant_channel
from .names import DEAD_LETTER, ERROR_REPLY, REPLAY_REPLY, REPLAY_REQUEST, Messages, amqp, ref


def _delivery(persistent: bool) -> dict[str, Any]:
    """Operation bindings: how the messages of an operation are published."""
    return amqp(deliveryMode=2 if persistent else 1)


def _channel_message(channel: str, message: str) -> dict[str, str]:
    return ref(f"#/channels/{channel}/messages/{message}")


def _operation(
    action: str, title: str, channel: str, message: str, *, persistent: bool
) -> dict[str, Any]:
    return {
        "action": action,
        "title": title,
        "channel": ref(f"#/channels/{channel}"),
        "messages": [_channel_message(channel, message)],
        "bindings": _delivery(persistent=persistent),
    }


def _request(
    title: str, channel: str, message: str, reply: str, *, persistent: bool
) -> dict[str, Any]:
    """A request the services receive, answered on the request's reply_to with ``reply`` or
    an error."""
    return {
        **_operation("receive", title, channel, message, persistent=persistent),
        "reply": {
            "address": {
                "description": "The request's reply_to property, e.g. amq.rabbitmq.reply-to"
                " (direct reply-to); the reply carries the request's correlation_id.",
                "location": "$message.header#/reply_to",
            },
            "channel": ref(f"#/channels/{REPLY}"),
            "messages": [_channel_message(REPLY, reply), _channel_message(REPLY, ERROR_REPLY)],
        },
    }


def _sent(title: str, channel: str, message: str) -> dict[str, Any]:
    """What the services send: events and dead letters, persistent."""
    return _operation("send", title, channel, message, persistent=True)


def resource_operations(resource: Resource) -> dict[str, Any]:
    names = Messages(resource)
    title = names.title
    operations = {
        f"create{title}": _request(
            f"Create a {resource.value}", resource.create_key, names.command, names.reply,
            persistent=True,
        )
    }  # fmt: skip
    for key, name, verb in names.events():
        operations[f"on{title}{verb}"] = _sent(f"{title} {verb.lower()}", key, name)
        operations[f"on{title}{verb}ForTenant"] = _sent(
            f"{title} {verb.lower()}, for its entity's tenant", tenant_channel(key), name
        )
    operations[f"list{title}"] = _request(
        f"List {resource.value} resources", resource.list_key, names.list_request, names.page,
        persistent=False,
    )  # fmt: skip
    return operations


def operations() -> dict[str, Any]:
    by_resource = {k: v for r in Resource for k, v in resource_operations(r).items()}
    dead_letter = _sent("Dead-letter a refused command", DEAD_LETTER_CHANNEL, DEAD_LETTER)
    replay = _request(
        "Replay stored events into a queue", REPLAY_KEY, REPLAY_REQUEST, REPLAY_REPLY,
        persistent=False,
    )  # fmt: skip
    return {**by_resource, "replayEvents": replay, "deadLetter": dead_letter}
