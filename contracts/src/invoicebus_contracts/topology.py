"""The addresses of the wire contract: exchange, queue, routing-key and header names, and the
declarations (exchange kinds, queue types and arguments, bindings) every declarer must use.

Plain data, no broker library: the SDK declares it with aio-pika, the services describe their
consumers with it, and the AsyncAPI document is generated from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_PREFIX = "invoicebus"
#: Deliveries of a command before the broker dead-letters it (the queues' x-delivery-limit).
DEFAULT_DELIVERY_LIMIT = 10
#: Command shard queues (``Topology.command_shards``): one tenant's backlog fills one of them,
#: and the others are consumed alongside it, so two tenants wait on each other only when their
#: entities hash to the same shard (probability 1/N).
DEFAULT_COMMAND_SHARDS = 8
#: The most shards a topology may have; the services look this far for shards of a former,
#: larger N to retire them.
MAX_COMMAND_SHARDS = 64
#: The header the shard exchange hashes on: a tenant's commands share a shard.
SHARD_HASH_HEADER = "x-entity-id"


class Resource(StrEnum):
    ENTITY = "entity"
    CUSTOMER = "customer"
    TAX = "tax"
    ITEM = "item"

    @property
    def create_key(self) -> str:
        """Routing key of the create command, e.g. ``customer.create``."""
        return f"{self.value}.create"

    @property
    def created_key(self) -> str:
        return f"{self.value}.created"

    @property
    def rejected_key(self) -> str:
        return f"{self.value}.rejected"

    @property
    def list_key(self) -> str:
        return f"{self.value}.list"

    @property
    def id_prefix(self) -> str:
        return ID_PREFIXES[self]

    @property
    def id_pattern(self) -> str:
        """The regular expression of this resource's ids, e.g. ``^cust_[0-9a-f]{24}$``."""
        return rf"^{self.id_prefix}_[0-9a-f]{{24}}$"

    @property
    def tenant_scoped(self) -> bool:
        """Whether the resource belongs to an entity. Entities are the tenants themselves, so
        they are the one resource that is not scoped to an entity."""
        return self is not Resource.ENTITY


ID_PREFIXES: dict[Resource, str] = {
    Resource.ENTITY: "ent",
    Resource.CUSTOMER: "cust",
    Resource.TAX: "tax",
    Resource.ITEM: "item",
}


class Header(StrEnum):
    ENTITY_ID = "x-entity-id"
    STATUS = "x-status"
    EVENT_TYPE = "x-event-type"
    # Set on dead-lettered copies of refused commands.
    ERROR_CODE = "x-error-code"
    ERROR_MESSAGE = "x-error-message"
    ERROR = "x-error"  # the whole error body, as JSON text
    ORIGINAL_EXCHANGE = "x-original-exchange"
    ORIGINAL_ROUTING_KEY = "x-original-routing-key"
    DEAD_LETTERED_AT = "x-dead-lettered-at"
    # Set by a trusted gateway (INVOICEBUS_GATEWAYS): the SHA-256 (hex) of its caller's API
    # key, which the services map to the key's principal.
    KEY_SHA256 = "x-invoicebus-key-sha256"
    # W3C trace context (optional, any message): the services continue the trace it names.
    TRACEPARENT = "traceparent"
    TRACESTATE = "tracestate"


CONTENT_TYPE = "application/json"
#: Routing key of the request that republishes stored events (on the queries exchange).
REPLAY_KEY = "events.replay"


@dataclass(frozen=True)
class Topology:
    """All broker names, derived from one prefix so test runs and tenants can't collide.

    Commands are published to ``commands_exchange`` under ``<resource>.create`` as ever; that
    exchange forwards them (exchange-to-exchange bindings, one per create key) to the
    consistent-hash ``command_shards_exchange``, which hashes the ``x-entity-id`` header onto
    ``command_shards`` quorum queues that carry every command type. The consistent-hash
    exchange routes messages whose header is absent, blank or not a string too (to one shard),
    so ``entity.create`` (no header) and hostile headers are never dropped on the way.
    """

    prefix: str = DEFAULT_PREFIX
    #: How many command shard queues there are (every declarer of the prefix must agree).
    command_shards: int = DEFAULT_COMMAND_SHARDS

    def __post_init__(self) -> None:
        if not 1 <= self.command_shards <= MAX_COMMAND_SHARDS:
            raise ValueError(f"command_shards must be 1 to {MAX_COMMAND_SHARDS}")

    @property
    def commands_exchange(self) -> str:
        return f"{self.prefix}.commands"

    @property
    def events_exchange(self) -> str:
        return f"{self.prefix}.events"

    @property
    def tenant_events_exchange(self) -> str:
        """The events again, under entity-qualified routing keys (``tenant_event_key``), so
        RabbitMQ topic permissions can give each tenant its own entities' events only."""
        return f"{self.prefix}.tenant-events"

    @staticmethod
    def tenant_event_key(entity_id: str, event_type: str) -> str:
        """Routing key on the tenant events exchange, e.g. ``ent_….customer.created``."""
        return f"{entity_id}.{event_type}"

    @property
    def queries_exchange(self) -> str:
        return f"{self.prefix}.queries"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.prefix}.dlx"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.prefix}.dead-letter"

    @property
    def command_shards_exchange(self) -> str:
        """Consistent-hash exchange feeding the shard queues (hash-header ``x-entity-id``)."""
        return f"{self.prefix}.commands.shards"

    def command_shard_queue(self, shard: int) -> str:
        """Durable quorum queue of shard ``shard`` (0-based) of the commands, every type, e.g.
        ``invoicebus.commands.shard-3``."""
        return f"{self.prefix}.commands.shard-{shard}"

    @property
    def command_queues(self) -> tuple[str, ...]:
        """The shard queues the command service consumes, in shard order."""
        return tuple(self.command_shard_queue(i) for i in range(self.command_shards))

    @property
    def retired_command_queues(self) -> tuple[str, ...]:
        """Command queues that may linger from an earlier topology and must be drained, never
        dropped: the one-queue-per-command queues of before sharding, and the shards of a
        larger N (up to ``MAX_COMMAND_SHARDS``)."""
        legacy = tuple(self.legacy_command_queue(r) for r in Resource)
        larger = range(self.command_shards, MAX_COMMAND_SHARDS)
        return legacy + tuple(self.command_shard_queue(i) for i in larger)

    def legacy_command_queue(self, resource: Resource) -> str:
        """The queue of one command before sharding, e.g. ``invoicebus.customer.create``."""
        return f"{self.prefix}.{resource.create_key}"

    def command_arguments(
        self, delivery_limit: int = DEFAULT_DELIVERY_LIMIT
    ) -> dict[str, str | int]:
        """The arguments of every command queue (shards, and the legacy ones)."""
        return {
            "x-dead-letter-exchange": self.dead_letter_exchange,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",  # required by at-least-once dead-lettering
            "x-delivery-limit": delivery_limit,
        }

    def query_queue(self, resource: Resource) -> str:
        return f"{self.prefix}.{resource.list_key}"

    @property
    def replay_queue(self) -> str:
        """Quorum queue of ``events.replay`` requests, e.g. ``invoicebus.events.replay``."""
        return f"{self.prefix}.{REPLAY_KEY}"

    def declarations(self, delivery_limit: int = DEFAULT_DELIVERY_LIMIT) -> Declarations:
        """Every exchange, queue and binding of the contract under this prefix.

        A queue declared twice with different arguments is refused by the broker
        (PRECONDITION_FAILED), so ``delivery_limit`` must be the services' setting.
        """
        topic, direct = ExchangeKind.TOPIC, ExchangeKind.DIRECT
        command_arguments = self.command_arguments(delivery_limit)
        queues = [
            # Classic, not quorum: RabbitMQ 4 gives quorum queues a default delivery limit
            # (20), and browsing the dead letters (get, then requeue) counts as deliveries; past
            # the limit a queue with no dead-letter exchange of its own would drop them. A
            # durable classic queue with persistent messages keeps them however often they are
            # looked at.
            Queue(self.dead_letter_queue, QueueType.CLASSIC),
            *(Queue(name, QueueType.QUORUM, command_arguments) for name in self.command_queues),
            *(Queue(self.query_queue(r), QueueType.QUORUM) for r in Resource),
            Queue(self.replay_queue, QueueType.QUORUM),
        ]
        bindings = [
            Binding(self.dead_letter_exchange, self.dead_letter_queue, "#"),
            # Only the create keys are forwarded: any other key stays unroutable, as before.
            *(
                Binding(self.commands_exchange, self.command_shards_exchange, r.create_key, True)
                for r in Resource
            ),
            # A consistent-hash binding's key is the queue's weight on the ring: equal shares.
            *(
                Binding(self.command_shards_exchange, name, SHARD_WEIGHT)
                for name in self.command_queues
            ),
            *(Binding(self.queries_exchange, self.query_queue(r), r.list_key) for r in Resource),
            Binding(self.queries_exchange, self.replay_queue, REPLAY_KEY),
        ]
        return Declarations(
            exchanges=(
                Exchange(self.commands_exchange, topic),
                Exchange(
                    self.command_shards_exchange,
                    ExchangeKind.CONSISTENT_HASH,
                    arguments={"hash-header": SHARD_HASH_HEADER},
                ),
                Exchange(self.events_exchange, topic),
                Exchange(self.tenant_events_exchange, topic),
                Exchange(self.queries_exchange, direct),
                Exchange(self.dead_letter_exchange, topic),
            ),
            queues=tuple(queues),
            bindings=tuple(bindings),
        )


#: Routing key of a shard queue's binding to the consistent-hash exchange (its weight).
SHARD_WEIGHT = "1"


class ExchangeKind(StrEnum):
    TOPIC = "topic"
    DIRECT = "direct"
    #: Needs the broker plugin ``rabbitmq_consistent_hash_exchange``.
    CONSISTENT_HASH = "x-consistent-hash"


class QueueType(StrEnum):
    QUORUM = "quorum"
    CLASSIC = "classic"


@dataclass(frozen=True)
class Exchange:
    name: str
    kind: ExchangeKind
    durable: bool = True
    arguments: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Queue:
    name: str
    queue_type: QueueType
    #: The optional arguments besides ``x-queue-type``.
    arguments: Mapping[str, str | int] = field(default_factory=dict, hash=False)
    durable: bool = True

    @property
    def amqp_arguments(self) -> dict[str, str | int]:
        """The arguments as the broker receives (and compares) them, queue type included."""
        return {"x-queue-type": self.queue_type.value, **self.arguments}


@dataclass(frozen=True)
class Binding:
    exchange: str
    #: The destination: a queue, or an exchange when ``to_exchange``.
    queue: str
    routing_key: str
    to_exchange: bool = False


@dataclass(frozen=True)
class Declarations:
    """What a declarer creates, in order: exchanges, then queues, then their bindings."""

    exchanges: tuple[Exchange, ...]
    queues: tuple[Queue, ...]
    bindings: tuple[Binding, ...]

    def exchange(self, name: str) -> Exchange:
        return next(e for e in self.exchanges if e.name == name)

    def queue(self, name: str) -> Queue:
        return next(q for q in self.queues if q.name == name)

    def binding(self, queue: str) -> Binding:
        """The binding of a queue (each queue of the contract is bound exactly once)."""
        [found] = [b for b in self.bindings if b.queue == queue and not b.to_exchange]
        return found
