"""Command handlers for entities and customers: build the resource, store it with its event."""

from __future__ import annotations

from invoicebus_contracts import CreateCustomer, CreateEntity, Customer, Entity, Resource

from ..domain import clock
from ..domain.ids import new_id
from .context import CommandContext, Outcome
from .ports import Store


async def create_entity(command: CreateEntity, ctx: CommandContext, store: Store) -> Outcome:
    now = clock.now()
    entity = Entity(
        id=new_id(Resource.ENTITY), **command.model_dump(), created_at=now, updated_at=now
    )
    return Outcome(await store.add(ctx.record(Resource.ENTITY, entity), ctx.key))


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
    return Outcome(await store.add(ctx.record(Resource.CUSTOMER, customer), ctx.key))
