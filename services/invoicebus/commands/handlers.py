"""Command handlers for entities and customers: build the resource, store it with its event."""

from __future__ import annotations

from invoicebus_contracts import CreateCustomer, CreateEntity, Customer, Entity, Resource

from ..adapters.mongo.store import Store
from ..domain import clock
from ..domain.ids import new_id
from .context import CommandContext, Outcome


async def create_entity(command: CreateEntity, ctx: CommandContext, store: Store) -> Outcome:
    now = clock.now()
    entity = Entity(
        id=new_id(Resource.ENTITY), **command.model_dump(), created_at=now, updated_at=now
    )
    doc = await store.insert(Resource.ENTITY, ctx.new_document(Resource.ENTITY, entity))
    return Outcome(Resource.ENTITY, doc)


async def create_customer(command: CreateCustomer, ctx: CommandContext, store: Store) -> Outcome:
    assert ctx.entity_id is not None
    now = clock.now()
    customer = Customer(
        id=new_id(Resource.CUSTOMER),
        entity_id=ctx.entity_id,
        **command.model_dump(),
        created_at=now,
        updated_at=now,
    )
    doc = await store.insert(Resource.CUSTOMER, ctx.new_document(Resource.CUSTOMER, customer))
    return Outcome(Resource.CUSTOMER, doc)
