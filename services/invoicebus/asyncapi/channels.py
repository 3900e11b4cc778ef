"""``channels``: where each message travels, described from the topology's declarations (exchange
kinds, queue types), so the document says what the services and the SDK declare."""

from __future__ import annotations

from typing import Any

from invoicebus_contracts import REPLAY_KEY, Declarations, Resource, Topology
from invoicebus_contracts.topology import Exchange, Queue

from .names import (
    DEAD_LETTER,
    ERROR_REPLY,
    REPLAY_REPLY,
    REPLAY_REQUEST,
    Messages,
    amqp,
    message_ref,
)

REPLY = "reply"
DEAD_LETTER_CHANNEL = "dead-letter"


def exchange_binding(exchange: Exchange) -> dict[str, Any]:
    return amqp(
        **{
            "is": "routingKey",
            "exchange": {
                "name": exchange.name,
                "type": exchange.kind.value,
                "durable": exchange.durable,
                "autoDelete": False,
            },
        }
    )


def _queue_kind(queue: Queue) -> str:
    """E.g. ``durable quorum queue``."""
    return f"{'durable ' if queue.durable else ''}{queue.queue_type.value} queue"


def resource_channels(
    resource: Resource, topology: Topology, declared: Declarations
) -> dict[str, Any]:
    """The command's channel, one per event, and the list request's channel."""
    names = Messages(resource)
    commands = declared.exchange(topology.commands_exchange)
    events = declared.exchange(topology.events_exchange)
    queries = declared.exchange(topology.queries_exchange)
    shards = declared.exchange(topology.command_shards_exchange)
    queue = declared.queue(topology.command_shard_queue(0))
    channels: dict[str, Any] = {
        resource.create_key: {
            "address": resource.create_key,
            "title": f"{resource.create_key} on {commands.name}",
            "description": f"Commands are published to the {commands.kind.value} exchange"
            f" {commands.name} with routing key {resource.create_key}. That exchange forwards"
            f" them to the {shards.kind.value} exchange {shards.name}, which hashes the"
            f" {shards.arguments['hash-header']} header onto {topology.command_shards}"
            f" {_queue_kind(queue)}s ({topology.command_shard_queue(0)} to"
            f" {topology.command_queues[-1]}) shared by every command type: one entity's"
            " commands wait in one shard, so its backlog does not hold up other entities"
            " (except those hashed to the same shard).",
            "messages": {names.command: message_ref(names.command)},
            "bindings": exchange_binding(commands),
        }
    }
    for key, name, _ in names.events():
        channels[key] = {
            "address": key,
            "title": f"{key} on {events.name}",
            "description": f"Events on the {events.kind.value} exchange {events.name}; bind"
            " your own queue with this routing key (or a pattern such as"
            f" {resource.value}.*).",
            "messages": {name: message_ref(name)},
            "bindings": exchange_binding(events),
        }
    tenant = declared.exchange(topology.tenant_events_exchange)
    for key, name, _ in names.events():
        channels[tenant_channel(key)] = {
            "address": topology.tenant_event_key("{entityId}", key),
            "title": f"{key} of one entity on {tenant.name}",
            "description": f"The same events on the {tenant.kind.value} exchange {tenant.name},"
            " under the entity's id, for tenants: RabbitMQ topic permissions let a tenant's"
            " user bind only its own entities' keys (e.g. {entityId}.# ). A rejected event"
            " comes here only when its sender may act on that entity.",
            "parameters": {
                "entityId": {"description": "The entity (ent_...) the event belongs to."}
            },
            "messages": {name: message_ref(name)},
            "bindings": exchange_binding(tenant),
        }
    channels[resource.list_key] = {
        "address": resource.list_key,
        "title": f"{resource.list_key} on {queries.name}",
        "description": f"List requests to the {queries.kind.value} exchange {queries.name}"
        f" with routing key {resource.list_key}.",
        "messages": {names.list_request: message_ref(names.list_request)},
        "bindings": exchange_binding(queries),
    }
    return channels


def tenant_channel(event_key: str) -> str:
    """The channel id of an event on the tenant events exchange."""
    return f"tenant.{event_key}"


def channels(topology: Topology, declared: Declarations) -> dict[str, Any]:
    by_resource = {
        key: channel
        for resource in Resource
        for key, channel in resource_channels(resource, topology, declared).items()
    }
    replies = [ERROR_REPLY, REPLAY_REPLY] + [
        name for r in Resource for name in (Messages(r).reply, Messages(r).page)
    ]
    dead_letters = declared.queue(topology.dead_letter_queue)
    queries = declared.exchange(topology.queries_exchange)
    return {
        **by_resource,
        REPLAY_KEY: {
            "address": REPLAY_KEY,
            "title": f"{REPLAY_KEY} on {queries.name}",
            "description": f"Replay requests to the {queries.kind.value} exchange {queries.name}"
            f" with routing key {REPLAY_KEY}; they wait in the"
            f" {_queue_kind(declared.queue(topology.replay_queue))} {topology.replay_queue}.",
            "messages": {REPLAY_REQUEST: message_ref(REPLAY_REQUEST)},
            "bindings": exchange_binding(queries),
        },
        REPLY: {
            "address": None,
            "title": "Replies",
            "description": "Replies go to the request's reply_to address through the default"
            " exchange, with the x-status header and the request's correlation_id.",
            "messages": {name: message_ref(name) for name in replies},
        },
        DEAD_LETTER_CHANNEL: {
            "address": dead_letters.name,
            "title": f"The {dead_letters.name} queue",
            "description": f"Everything published to {topology.dead_letter_exchange} (refused"
            " commands, and messages past the queues' delivery limit) lands in this"
            f" {_queue_kind(dead_letters)}. `invoicebus dlq list` browses it; `invoicebus dlq"
            " replay` republishes.",
            "messages": {DEAD_LETTER: message_ref(DEAD_LETTER)},
            "bindings": amqp(
                **{
                    "is": "queue",
                    "queue": {
                        "name": dead_letters.name,
                        "durable": dead_letters.durable,
                        "exclusive": False,
                        "autoDelete": False,
                    },
                }
            ),
        },
    }
