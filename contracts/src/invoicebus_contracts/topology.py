"""Exchange, queue, routing-key and header names: the addresses of the wire contract."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_PREFIX = "invoicebus"


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


CONTENT_TYPE = "application/json"


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
