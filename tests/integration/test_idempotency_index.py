"""Lookups by idempotency key use an index on the real database, and a keyed ``item.create``
pays no read before its insert (issue 9, item 8)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pymongo import ASCENDING, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from invoicebus.adapters.mongo import outbox
from invoicebus.adapters.mongo.client import connect
from invoicebus.adapters.mongo.store import MongoStore
from invoicebus.commands.catalog import create_item
from invoicebus.commands.context import CommandContext
from invoicebus.domain import clock
from invoicebus.domain.errors import DomainError
from invoicebus.domain.ids import new_id
from invoicebus.querying.fields import Document
from invoicebus.settings import Settings
from invoicebus_contracts import CreateCustomer, CreateItem, Customer, ErrorCode, Resource
from tests.support.memory import acting
from tests.support.plans import winning_stages

pytestmark = pytest.mark.usefixtures("command_service")

#: Enough documents that a scan shows in "documents examined", few enough to stay fast.
SEEDED = 200


def ctx_of(entity_id: str, command: Any, resource: Resource) -> CommandContext:
    return CommandContext.of(resource, command, acting(entity_id), str(uuid.uuid4()))


async def test_a_lookup_by_key_is_an_index_scan_examining_one_document(
    db: AsyncDatabase[Document], entity: dict[str, Any]
) -> None:
    store = MongoStore(db)
    e = entity["id"]
    contexts = [ctx_of(e, CreateCustomer(name=f"k{i}"), Resource.CUSTOMER) for i in range(SEEDED)]
    await db.customers.insert_many(
        [
            outbox.document_of(c.record(Resource.CUSTOMER, _customer(c, f"k{i}")), c.key)
            for i, c in enumerate(contexts)
        ]
    )
    wanted = contexts[SEEDED // 2]
    assert wanted.key is not None
    explained = await db.customers.find(outbox.by_key(e, wanted.key)).limit(1).explain()
    plan = winning_stages(explained)
    assert "COLLSCAN" not in [s["stage"] for s in plan], plan
    scans = [dict(s["keyPattern"]) for s in plan if s["stage"] == "IXSCAN"]
    assert scans == [{outbox.IDEM_ID: ASCENDING}], plan
    assert explained["executionStats"]["totalDocsExamined"] <= 1
    found = await store.find_original(Resource.CUSTOMER, e, wanted.key)
    assert found is not None and found.model.name == f"k{SEEDED // 2}"


def _customer(ctx: CommandContext, name: str) -> Customer:
    now = clock.now()
    assert ctx.entity_id is not None
    return Customer(
        id=new_id(Resource.CUSTOMER),
        entity_id=ctx.entity_id,
        **CreateCustomer(name=name).model_dump(),
        created_at=now,
        updated_at=now,
    )


class Commands(monitoring.CommandListener):
    """The database commands a client sends, by name and collection, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.seen.append((event.command_name, event.command.get(event.command_name)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_a_new_keyed_item_is_inserted_without_a_read_before(
    settings: Settings, entity: dict[str, Any]
) -> None:
    assert settings.mongodb_url
    commands = Commands()
    client = connect(settings.mongodb_url, [commands])
    try:
        store = MongoStore(client[settings.database])
        command = CreateItem(name="No read first", price=10)
        ctx = ctx_of(entity["id"], command, Resource.ITEM)
        outcome = await create_item(command, ctx, store)
        on_items = [name for name, coll in commands.seen if coll == "items"]
        assert on_items == ["insert"], commands.seen
        # A repeat is recognised by the index all the same: the original, one document.
        again = await create_item(command, ctx, store)
        assert again.record.id == outcome.record.id
        assert (
            await client[settings.database].items.count_documents(
                outbox.by_key(entity["id"], ctx.key)  # type: ignore[arg-type]
            )
            == 1
        )
    finally:
        await client.close()


async def test_documents_keyed_before_the_single_field_index_are_backfilled(
    db: AsyncDatabase[Document], entity: dict[str, Any]
) -> None:
    """A collection as earlier versions left it: the compound partial index, keys without
    ``_idem.id``. Starting migrates it once and its keys keep working."""
    coll = db[f"migrating_{uuid.uuid4().hex[:8]}"]
    await coll.create_index(
        [("entity_id", ASCENDING), ("_idem.command", ASCENDING), ("_idem.key", ASCENDING)],
        name=outbox.OLD_IDEMPOTENCY_INDEX,
        unique=True,
        partialFilterExpression={"_idem.key": {"$exists": True}},
    )
    ctx = ctx_of(entity["id"], CreateCustomer(name="old"), Resource.CUSTOMER)
    assert ctx.key is not None
    old = outbox.document_of(ctx.record(Resource.CUSTOMER, _customer(ctx, "old")), ctx.key)
    del old["_idem"]["id"]
    await coll.insert_many([old, {"_id": "unkeyed", "entity_id": entity["id"]}])

    await outbox.ensure_indexes(coll)

    indexes = await coll.index_information()
    assert outbox.OLD_IDEMPOTENCY_INDEX not in indexes
    assert indexes[outbox.IDEMPOTENCY_INDEX]["unique"]
    found = await outbox.find_original(coll, Resource.CUSTOMER, entity["id"], ctx.key)
    assert found is not None and found.id == old["_id"]
    assert "_idem" not in (await coll.find_one({"_id": "unkeyed"}) or {})
    await coll.drop()


async def test_add_many_stores_a_batch_and_answers_repeats_and_conflicts_per_record(
    db: AsyncDatabase[Document], entity: dict[str, Any]
) -> None:
    """One insert_many: a new record is stored, a repeated key gives its original, a reused
    key its idempotency_conflict, each for that record alone; the same call again (a retry
    after a transient failure) stores nothing twice."""
    store = MongoStore(db)
    e = entity["id"]
    original_ctx = ctx_of(e, CreateCustomer(name="original"), Resource.CUSTOMER)
    original = original_ctx.record(Resource.CUSTOMER, _customer(original_ctx, "original"))
    await store.add(original, original_ctx.key)

    def again(name: str, message_id: str | None) -> tuple[Any, Any]:
        ctx = CommandContext.of(Resource.CUSTOMER, CreateCustomer(name=name), acting(e), message_id)
        return ctx.record(Resource.CUSTOMER, _customer(ctx, name)), ctx.key

    repeat = again("original", original_ctx.message_id)
    reused = again("different", original_ctx.message_id)
    fresh = [again(f"fresh {i}", str(uuid.uuid4())) for i in range(3)]
    unkeyed = again("unkeyed", None)
    entries = [fresh[0], repeat, fresh[1], reused, unkeyed, fresh[2]]

    results = await store.add_many(entries)

    assert [getattr(r, "code", None) for r in results] == [
        None, None, None, ErrorCode.IDEMPOTENCY_CONFLICT, None, None,
    ]  # fmt: skip
    assert results[1].id == original.id  # type: ignore[union-attr]
    for index in (0, 2, 4, 5):
        assert results[index] is entries[index][0]
    retried = await store.add_many(entries)
    assert [getattr(r, "id", None) for r in retried] == [getattr(r, "id", None) for r in results]
    names = ["original", "fresh 0", "fresh 1", "fresh 2", "unkeyed"]
    assert await db.customers.count_documents({"entity_id": e, "name": {"$in": names}}) == 5
    await store.mark_sent_many([r for r in results if not isinstance(r, DomainError)])
    assert not await db.customers.count_documents({"entity_id": e, "_pending": True})
