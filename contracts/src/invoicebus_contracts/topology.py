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
    """All broker names, derived from one prefix so test runs and tenants can't collide."""

    prefix: str = DEFAULT_PREFIX

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

    def command_queue(self, resource: Resource) -> str:
        """Durable quorum queue of one command, e.g. ``invoicebus.customer.create``."""
        return f"{self.prefix}.{resource.create_key}"

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
        command_arguments: dict[str, str | int] = {
            "x-dead-letter-exchange": self.dead_letter_exchange,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",  # required by at-least-once dead-lettering
            "x-delivery-limit": delivery_limit,
        }
        queues = [
            # Classic, not quorum: RabbitMQ 4 gives quorum queues a default delivery limit
            # (20), and browsing the dead letters (get, then requeue) counts as deliveries; past
            # the limit a queue with no dead-letter exchange of its own would drop them. A
            # durable classic queue with persistent messages keeps them however often they are
            # looked at.
            Queue(self.dead_letter_queue, QueueType.CLASSIC),
            *(Queue(self.command_queue(r), QueueType.QUORUM, command_arguments) for r in Resource),
            *(Queue(self.query_queue(r), QueueType.QUORUM) for r in Resource),
            Queue(self.replay_queue, QueueType.QUORUM),
        ]
        bindings = [
            Binding(self.dead_letter_exchange, self.dead_letter_queue, "#"),
            *(
                Binding(self.commands_exchange, self.command_queue(r), r.create_key)
                for r in Resource
            ),
            *(Binding(self.queries_exchange, self.query_queue(r), r.list_key) for r in Resource),
            Binding(self.queries_exchange, self.replay_queue, REPLAY_KEY),
        ]
        return Declarations(
            exchanges=(
                Exchange(self.commands_exchange, topic),
                Exchange(self.events_exchange, topic),
                Exchange(self.tenant_events_exchange, topic),
                Exchange(self.queries_exchange, direct),
                Exchange(self.dead_letter_exchange, topic),
            ),
            queues=tuple(queues),
            bindings=tuple(bindings),
        )


class ExchangeKind(StrEnum):
    TOPIC = "topic"
    DIRECT = "direct"


class QueueType(StrEnum):
    QUORUM = "quorum"
    CLASSIC = "classic"


@dataclass(frozen=True)
class Exchange:
    name: str
    kind: ExchangeKind
    durable: bool = True


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
    queue: str
    routing_key: str


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
        [found] = [b for b in self.bindings if b.queue == queue]
        return found
