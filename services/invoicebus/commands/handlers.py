"""Command handlers for entities and customers: build the resource, store it with its event.

Each is a pure builder (command and context in, the record to store out) and the handler that
stores it; the batched write path (``batch.py``) stores many builders' records at once."""

from __future__ import annotations

from typing import Any

from invoicebus_contracts import CreateCustomer, CreateEntity, Customer, Entity, Resource

from ..domain import clock
from ..domain.ids import new_id
from ..domain.records import Record
from .context import CommandContext, Outcome
from .ports import Store


def build_entity(command: CreateEntity, ctx: CommandContext) -> Record[Any]:
    now = clock.now()
    entity = Entity(
        id=new_id(Resource.ENTITY), **command.model_dump(), created_at=now, updated_at=now
    )
    return ctx.record(Resource.ENTITY, entity)


def build_customer(command: CreateCustomer, ctx: CommandContext) -> Record[Any]:
    assert ctx.entity_id is not None
    now = clock.now()
    customer = Customer(
        id=new_id(Resource.CUSTOMER),
        entity_id=ctx.entity_id,
        **command.model_dump(),
        created_at=now,
        updated_at=now,
    )
    return ctx.record(Resource.CUSTOMER, customer)


async def create_entity(command: CreateEntity, ctx: CommandContext, store: Store) -> Outcome:
    return Outcome(await store.add(build_entity(command, ctx), ctx.key))


async def create_customer(command: CreateCustomer, ctx: CommandContext, store: Store) -> Outcome:
    return Outcome(await store.add(build_customer(command, ctx), ctx.key))
