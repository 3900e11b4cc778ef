"""A resource as the write side stores it: its contract model and the event it carries.

Every created resource is stored together with its ``created`` event, pending until the event
is published (the outbox, see ``adapters/mongo/outbox.py``; a batch's records are pending
together, under one marker: ``adapters/mongo/outbox_batches.py``). These values are what the command
handlers hand to the store and get back; how they are laid out in a document is the adapter's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from invoicebus_contracts import Customer, Entity, Item, Resource, Tax

from .ids import new_event_id

#: The contract model of a stored resource.
M = TypeVar("M", Entity, Customer, Tax, Item)


@dataclass(frozen=True)
class Event:
    """The ``<resource>.created`` event of a stored resource (its id is the AMQP message_id)."""

    id: str
    type: str
    correlation_id: str | None  # the creating command's message_id

    @classmethod
    def created(cls, resource: Resource, correlation_id: str | None) -> Event:
        return cls(new_event_id(), resource.created_key, correlation_id)


@dataclass(frozen=True)
class IdempotencyKey:
    """A command's ``message_id``, and what "the same command" means for it."""

    command: str  # e.g. ``customer.create``
    key: str
    fingerprint: str
    #: Whose keys it is unique among besides the entity's (see ``commands.context``); "" none.
    scope: str = ""


@dataclass
class Record(Generic[M]):
    """A stored resource and its ``created`` event, ``pending`` until the event is published."""

    resource: Resource
    model: M
    event: Event
    pending: bool = True
    #: Principals the new record grants access to (an entity, to its creator).
    grants: tuple[str, ...] = ()
    #: The stored batch whose one outbox marker holds this record's pending event, if the
    #: store wrote it in one (``Store.add_many``); marking it sent removes the marker. The
    #: store's token: nothing above the store reads it.
    batch: str | None = None

    @property
    def id(self) -> str:
        return self.model.id

    @property
    def entity_id(self) -> str:
        """The entity (tenant) the resource belongs to; an entity belongs to itself."""
        model = self.model
        if self.resource.tenant_scoped and not isinstance(model, Entity):
            return model.entity_id
        return model.id
