"""A batch's events are pending under one marker on the real database (issue 11): a batch
delivered in full leaves no marker and no pending document; a marker a crash left behind is
relayed once by the running service and removed; the relay finds old markers by an index."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from invoicebus.adapters.mongo import outbox_batches
from invoicebus.adapters.mongo.store import MongoStore
from invoicebus.commands.context import CommandContext
from invoicebus.domain import clock
from invoicebus.domain.ids import new_id
from invoicebus.domain.records import IdempotencyKey, Record
from invoicebus.querying.fields import Document
from invoicebus_contracts import CreateCustomer, Customer, Resource
from tests.support.amqp import RawClient, body
from tests.support.memory import acting
from tests.support.plans import winning_stages


def new_customers(
    entity_id: str, count: int, age: timedelta = timedelta(0)
) -> list[tuple[Record[Any], IdempotencyKey | None]]:
    """Records of ``customer.create`` built as the service builds them, ``age`` old."""
    created = clock.now() - age
    entries: list[tuple[Record[Any], IdempotencyKey | None]] = []
    for i in range(count):
        command = CreateCustomer(name=f"Batched {i}")
        ctx = CommandContext.of(Resource.CUSTOMER, command, acting(entity_id), str(uuid.uuid4()))
        customer = Customer(
            id=new_id(Resource.CUSTOMER),
            entity_id=entity_id,
            **command.model_dump(),
            created_at=created,
            updated_at=created,
        )
        entries.append((ctx.record(Resource.CUSTOMER, customer), ctx.key))
    return entries


async def test_a_delivered_batch_leaves_no_marker_and_no_pending_document(
    db: AsyncDatabase[Document], entity: dict[str, Any], client: RawClient
) -> None:
    store = MongoStore(db)
    entries = new_customers(entity["id"], 3)
    ids = [record.id for record, _ in entries]
    results = await store.add_many(entries)
    # Between the write and the publish: one marker names the batch, no document is pending.
    [marker] = await db.outbox_batches.find({"_id": ids[0]}).to_list()
    assert marker["records"] == {"customers": ids}
    assert not await db.customers.count_documents({"_id": {"$in": ids}, "_pending": True})

    await store.mark_sent_many([r for r in results if isinstance(r, Record)])
    assert not await db.outbox_batches.count_documents({"_id": ids[0]})
    assert await db.customers.count_documents({"_id": {"$in": ids}}) == 3

    # The same commands again (new records, the same keys): only originals, nothing to mark
    # sent, so the batch's marker goes at once instead of waiting for the relay.
    repeats = new_customers(entity["id"], 3)
    again = [(record, key) for (record, _), (_, key) in zip(repeats, entries, strict=True)]
    originals = await store.add_many(again)
    assert [getattr(r, "id", None) for r in originals] == ids
    assert not await db.outbox_batches.count_documents({"_id": repeats[0][0].id})

    # The same through the running service, commands sent together (batched as they come).
    replies = await asyncio.gather(
        *(
            client.command("customer.create", {"name": f"Together {i}"}, entity_id=entity["id"])
            for i in range(12)
        )
    )
    assert {r.status for r in replies} == {201}
    created = [r.body["id"] for r in replies]
    assert not await db.customers.count_documents({"_id": {"$in": created}, "_pending": True})
    assert not await db.outbox_batches.count_documents({"records.customers": {"$in": created}})


async def test_a_marker_left_by_a_crash_is_relayed_once_and_removed(
    db: AsyncDatabase[Document], entity: dict[str, Any], client: RawClient
) -> None:
    tap = await client.subscribe("customer.created")
    # New, as a command's records are: the relay's grace (2 s in the tests) then passes
    # after both writes, as it does in a real crash.
    entries = new_customers(entity["id"], 3)
    ids = [record.id for record, _ in entries]
    # The crash: the marker (naming one more record whose insert never happened) and the
    # documents are written, and the process dies before it publishes and removes the marker.
    never_stored = new_customers(entity["id"], 1)[0][0]
    await outbox_batches.open_batch(db, [*(r for r, _ in entries), never_stored])
    await MongoStore(db).add_many(entries)  # the same batch: its marker is found written
    assert await db.outbox_batches.count_documents({"_id": ids[0]}) == 1

    for _ in range(300):  # the service's relay runs every second in the tests
        if not await db.outbox_batches.count_documents({"_id": ids[0]}):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the relay never removed the marker")
    await asyncio.sleep(2.5)  # two more relay rounds: none publishes the batch again
    seen = [m for m in tap.messages if body(m)["id"] in {*ids, never_stored.id}]
    assert sorted(body(m)["id"] for m in seen) == sorted(ids)  # each once, the missing never
    events = {record.id: record.event.id for record, _ in entries}
    assert all(m.message_id == events[body(m)["id"]] for m in seen)  # the stored event ids
    assert not await db.customers.count_documents({"_id": {"$in": ids}, "_pending": True})


async def test_the_relay_finds_old_markers_by_their_creation_time_index(
    db: AsyncDatabase[Document], entity: dict[str, Any]
) -> None:
    # Markers of batches still in flight (created "in the future" so the relay leaves them).
    later = clock.now() + timedelta(days=1)
    seeded = [
        {"_id": f"probe-{uuid.uuid4()}", "created_at": later + timedelta(seconds=i), "records": {}}
        for i in range(50)
    ]
    await outbox_batches.ensure_indexes(db)  # as the service does at start
    await db.outbox_batches.insert_many(seeded)
    try:
        explained = await outbox_batches.older_than(db, later + timedelta(seconds=2)).explain()
        plan = winning_stages(explained)
        assert "COLLSCAN" not in [s["stage"] for s in plan], plan
        scans = [dict(s["keyPattern"]) for s in plan if s["stage"] == "IXSCAN"]
        assert scans == [{"created_at": ASCENDING}], plan
        assert explained["executionStats"]["totalDocsExamined"] <= 2
    finally:
        await db.outbox_batches.delete_many({"_id": {"$in": [m["_id"] for m in seeded]}})
