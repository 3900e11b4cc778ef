"""Idempotency and the outbox over the real broker and database: a repeated command gives
the original resource and re-announces the original event; a stored event that was never
published is published by the relay."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from invoicebus.adapters.mongo.client import connect
from invoicebus.adapters.mongo.store import MongoStore
from invoicebus.commands.context import CommandContext
from invoicebus.domain import clock
from invoicebus.domain.ids import new_id
from invoicebus.settings import Settings
from invoicebus_contracts import CreateCustomer, Customer, Resource
from tests.support.amqp import RawClient, body, peek_queue
from tests.support.memory import acting

pytestmark = pytest.mark.usefixtures("command_service")


async def test_repeated_command_gives_the_original_and_the_same_event_again(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    tap = await client.subscribe("customer.created")
    message_id = str(uuid.uuid4())
    payload = {"name": "Once Only", "metadata": {"k": "v"}}
    first = await client.command(
        "customer.create", payload, entity_id=entity["id"], message_id=message_id
    )
    second = await client.command(
        "customer.create", payload, entity_id=entity["id"], message_id=message_id
    )
    assert first.status == second.status == 201
    assert second.body == first.body  # same id, same timestamps: the original resource

    def mine(m: Any) -> bool:
        return bool(m.correlation_id == message_id)

    await tap.wait_for(mine)
    await asyncio.wait_for(_until(lambda: len([m for m in tap.messages if mine(m)]) == 2), 10)
    events = [m for m in tap.messages if mine(m)]
    assert len({e.message_id for e in events}) == 1  # the original event id, twice
    assert all(body(e) == first.body for e in events)
    assert await db.customers.count_documents({"_idem.key": message_id}) == 1


async def test_same_message_id_with_another_body_is_an_idempotency_conflict(
    client: RawClient, entity: dict[str, Any], settings: Settings, db: Any
) -> None:
    message_id = str(uuid.uuid4())
    first = await client.command(
        "customer.create", {"name": "Original"}, entity_id=entity["id"], message_id=message_id
    )
    assert first.status == 201
    tap = await client.subscribe("customer.rejected")
    clash = await client.command(
        "customer.create", {"name": "Different"}, entity_id=entity["id"], message_id=message_id
    )
    assert clash.status == 409
    assert clash.body["error"]["code"] == "idempotency_conflict"
    assert clash.body["error"]["errors"][0]["loc"] == ["message_id"]
    rejected = await tap.wait_for(lambda m: body(m)["command_id"] == message_id)
    assert body(rejected)["error"]["code"] == "idempotency_conflict"
    dead = [
        m
        for m in await peek_queue(settings.amqp_url, settings.topology.dead_letter_queue)
        if m.message_id == message_id
    ]
    assert [m.headers["x-error-code"] for m in dead] == ["idempotency_conflict"]
    docs = await db.customers.find({"_idem.key": message_id}).to_list()
    assert [d["name"] for d in docs] == ["Original"]


async def test_the_key_is_scoped_to_entity_and_command_type(
    client: RawClient, entity: dict[str, Any]
) -> None:
    other = await client.command("entity.create", {"name": "Other Entity"})
    message_id = str(uuid.uuid4())
    here = await client.command(
        "customer.create", {"name": "Same Key"}, entity_id=entity["id"], message_id=message_id
    )
    there = await client.command(
        "customer.create", {"name": "Same Key"}, entity_id=other.body["id"], message_id=message_id
    )
    tax = await client.command(
        "tax.create", {"rate": 22}, entity_id=entity["id"], message_id=message_id
    )
    assert here.status == there.status == tax.status == 201
    assert here.body["id"] != there.body["id"]


async def test_concurrent_deliveries_of_one_command_store_one_document(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    message_id = str(uuid.uuid4())
    replies = await asyncio.gather(
        *(
            client.command(
                "customer.create", {"name": "Racy"}, entity_id=entity["id"], message_id=message_id
            )
            for _ in range(6)
        )
    )
    assert {r.status for r in replies} == {201}
    assert len({r.body["id"] for r in replies}) == 1
    assert await db.customers.count_documents({"_idem.key": message_id}) == 1


async def test_relay_publishes_an_event_its_command_never_sent(
    client: RawClient, entity: dict[str, Any], settings: Settings
) -> None:
    """As after a crash between the write and the publish: the document is stored with its
    pending event; the relay of the running service publishes it and marks it sent."""
    tap = await client.subscribe("customer.created")
    created = clock.now() - timedelta(minutes=1)  # older than the relay's grace period
    command = CreateCustomer(name="Left Unsent")
    customer = Customer(
        id=new_id(Resource.CUSTOMER),
        entity_id=entity["id"],
        **command.model_dump(),
        created_at=created,
        updated_at=created,
    )
    ctx = CommandContext.of(Resource.CUSTOMER, command, acting(entity["id"]), str(uuid.uuid4()))
    record = ctx.record(Resource.CUSTOMER, customer)
    assert settings.mongodb_url
    mongo = connect(settings.mongodb_url)
    try:
        await MongoStore(mongo[settings.database]).add(record, ctx.key)
        event = await tap.wait_for(lambda m: body(m)["id"] == customer.id, timeout=30)
        assert event.message_id == record.event.id
        assert event.correlation_id == ctx.message_id
        customers = mongo[settings.database].customers
        for _ in range(100):  # marked sent right after the confirm
            if await customers.count_documents({"_id": customer.id, "_pending": False}):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the relayed event was never marked sent")
    finally:
        await mongo.close()


async def _until(condition: Any) -> None:
    while not condition():  # noqa: ASYNC110 - polling an event tap filled by its consumer
        await asyncio.sleep(0.05)
