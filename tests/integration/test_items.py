"""item.create end to end: decimal pricing, taxes by rate, classification or id, and refusals."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from bson import Decimal128

from invoicebus.adapters.mongo.store import MongoStore
from invoicebus.adapters.mongo.taxes import MongoTaxes
from invoicebus.commands.catalog import create_item, new_tax
from invoicebus.commands.context import CommandContext
from invoicebus.settings import Settings
from invoicebus_contracts import CreateItem, Resource, TaxRef
from tests.support.amqp import RawClient, body
from tests.support.memory import acting
from tests.support.refusals import assert_refused

pytestmark = pytest.mark.usefixtures("command_service")

ITEM_FIELDS = [
    "id", "name", "description", "price", "gross_price", "total_tax", "tax_ids", "unit",
    "entity_id", "metadata", "created_at", "updated_at",
]  # fmt: skip
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


async def create(client: RawClient, entity: dict[str, Any], payload: dict[str, Any]) -> Any:
    reply = await client.command("item.create", payload, entity_id=entity["id"])
    assert reply.status == 201, reply.body
    return reply


async def test_reference_example_creates_and_announces_its_tax_first(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    tap = await client.subscribe("#")
    message_id = str(uuid.uuid4())
    reply = await client.command(
        "item.create",
        {"name": "Professional Consulting Service", "price": 200, "taxes": [{"rate": 22}]},
        entity_id=entity["id"],
        message_id=message_id,
    )
    assert reply.status == 201, reply.body
    item = reply.body
    assert list(item) == ITEM_FIELDS
    assert re.fullmatch(r"item_[0-9a-f]{24}", item["id"])
    assert {k: item[k] for k in ("name", "description", "price", "gross_price", "total_tax")} == {
        "name": "Professional Consulting Service",
        "description": None,
        "price": 200,
        "gross_price": None,
        "total_tax": 44,
    }
    assert (item["unit"], item["metadata"], item["entity_id"]) == (None, {}, entity["id"])
    assert TIMESTAMP.match(item["created_at"]) and TIMESTAMP.match(item["updated_at"])

    item_event = await tap.wait_for(lambda m: m.routing_key == "item.created")
    assert body(item_event) == item
    assert item_event.correlation_id == message_id
    tax_events = tap.of_type("tax.created")
    assert len(tax_events) == 1
    tax = body(tax_events[0])
    assert item["tax_ids"] == [tax["id"]]
    assert (tax["rate"], tax["entity_id"]) == (22, entity["id"])
    assert tax_events[0].correlation_id == message_id
    assert tap.messages.index(tax_events[0]) < tap.messages.index(item_event)

    stored_tax = await db.taxes.find_one({"_id": tax["id"]})
    assert stored_tax["_pending"] is False


async def test_minimal_item_matches_the_reference(
    client: RawClient, entity: dict[str, Any]
) -> None:
    reply = await create(client, entity, {"name": "Minimal Item", "price": 1500})
    assert {k: v for k, v in reply.body.items() if k not in ("id", "created_at", "updated_at")} == {
        "name": "Minimal Item",
        "description": None,
        "price": 1500,
        "gross_price": None,
        "total_tax": 0,
        "tax_ids": [],
        "unit": None,
        "entity_id": entity["id"],
        "metadata": {},
    }


async def test_item_without_any_price(client: RawClient, entity: dict[str, Any]) -> None:
    reply = await create(client, entity, {"name": "Free text", "taxes": [{"rate": 22}]})
    assert (reply.body["price"], reply.body["gross_price"], reply.body["total_tax"]) == (
        None,
        None,
        0,
    )
    assert len(reply.body["tax_ids"]) == 1


async def test_second_item_with_the_same_rate_reuses_the_tax(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    first = await create(client, entity, {"name": "A", "price": 10, "taxes": [{"rate": 22}]})
    tap = await client.subscribe("#")
    message_id = str(uuid.uuid4())
    second = await client.command(
        "item.create",
        {"name": "B", "price": 20, "taxes": [{"rate": 22.0}]},
        entity_id=entity["id"],
        message_id=message_id,
    )
    assert second.status == 201, second.body
    assert second.body["tax_ids"] == first.body["tax_ids"]
    assert second.body["total_tax"] == 4.4
    # A tax event would have been published before the item's, on the same channel.
    await tap.wait_for(lambda m: m.routing_key == "item.created" and body(m)["name"] == "B")
    assert tap.of_type("tax.created") == []
    assert await db.taxes.count_documents({"entity_id": entity["id"]}) == 1


async def test_rate_reuses_a_tax_made_with_tax_create(
    client: RawClient, entity: dict[str, Any]
) -> None:
    tax = await client.command("tax.create", {"rate": 9.5}, entity_id=entity["id"])
    item = await create(client, entity, {"name": "Book", "price": 10, "taxes": [{"rate": 9.50}]})
    assert item.body["tax_ids"] == [tax.body["id"]]
    assert item.body["total_tax"] == 0.95


async def test_gross_price_122_at_22_percent(client: RawClient, entity: dict[str, Any]) -> None:
    reply = await create(
        client, entity, {"name": "Gross", "gross_price": 122, "taxes": [{"rate": 22}]}
    )
    assert (reply.body["price"], reply.body["total_tax"], reply.body["gross_price"]) == (
        100,
        22,
        122,
    )


async def test_gross_price_10_at_9_5_percent_is_exact_on_the_wire(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    tap = await client.subscribe("item.created")
    reply = await create(
        client, entity, {"name": "Gross", "gross_price": 10, "taxes": [{"rate": 9.5}]}
    )
    raw = reply.message.body
    assert b'"price":9.13,' in raw
    assert b'"gross_price":10,' in raw
    assert b'"total_tax":0.87,' in raw
    event = await tap.wait_for(lambda m: body(m)["id"] == reply.body["id"])
    assert b'"price":9.13,' in event.body and b'"total_tax":0.87,' in event.body

    doc = await db.items.find_one({"_id": reply.body["id"]})
    assert (doc["price"], doc["gross_price"], doc["total_tax"]) == (
        Decimal128("9.13"),
        Decimal128("10.00"),
        Decimal128("0.87"),
    )


@pytest.mark.parametrize(
    ("price", "wire"), [("0.3", b"0.3"), ("10.05", b"10.05"), ("0.1", b"0.1"), ("0.07", b"0.07")]
)
async def test_amounts_round_trip_exactly_and_are_stored_as_decimal128(
    client: RawClient, entity: dict[str, Any], db: Any, price: str, wire: bytes
) -> None:
    payload = b'{"name": "Exact", "price": %s, "taxes": [{"rate": 10}]}' % price.encode()
    reply = await client.command("item.create", payload, entity_id=entity["id"])
    assert reply.status == 201, reply.body
    assert b'"price":' + wire + b"," in reply.message.body
    assert b"0000000" not in reply.message.body  # no binary float artefacts
    stored = await db.items.find_one({"_id": reply.body["id"]})
    assert isinstance(stored["price"], Decimal128)
    assert stored["price"].to_decimal() == Decimal(price)
    expected_tax = (Decimal(price) / 10).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    assert stored["total_tax"].to_decimal() == expected_tax
    assert json.loads(reply.message.body, parse_float=Decimal)["price"] == Decimal(price)


async def test_taxes_by_classification_and_by_id(client: RawClient, entity: dict[str, Any]) -> None:
    standard = await client.command(
        "tax.create", {"rate": 22, "classification": "standard"}, entity_id=entity["id"]
    )
    eco = await client.command("tax.create", {"rate": 1.5, "name": "Eco"}, entity_id=entity["id"])
    reply = await create(
        client,
        entity,
        {
            "name": "Two taxes",
            "price": 100,
            "taxes": [{"classification": "standard"}],
            "tax_ids": [eco.body["id"]],
            "unit": "hour",
            "metadata": {"sku": "X-1"},
        },
    )
    assert reply.body["tax_ids"] == [standard.body["id"], eco.body["id"]]
    assert reply.body["total_tax"] == 23.5
    assert (reply.body["unit"], reply.body["metadata"]) == ("hour", {"sku": "X-1"})


async def test_redelivered_item_create_reuses_its_tax_and_replies_with_the_original(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    command = {"name": "Once", "gross_price": 50, "taxes": [{"rate": 8}]}
    message_id = str(uuid.uuid4())
    first = await client.command(
        "item.create", command, entity_id=entity["id"], message_id=message_id
    )
    again = await client.command(
        "item.create", command, entity_id=entity["id"], message_id=message_id
    )
    assert (first.status, again.status) == (201, 201)
    assert again.body == first.body
    assert await db.items.count_documents({"entity_id": entity["id"]}) == 1
    assert await db.taxes.count_documents({"entity_id": entity["id"]}) == 1


async def test_reused_message_id_for_another_item_is_refused_without_creating_a_tax(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    message_id = str(uuid.uuid4())
    first = await client.command(
        "item.create", {"name": "A"}, entity_id=entity["id"], message_id=message_id
    )
    assert first.status == 201
    again = await client.command(
        "item.create",
        {"name": "B", "taxes": [{"rate": 3}]},
        entity_id=entity["id"],
        message_id=message_id,
    )
    assert again.status == 409
    assert again.body["error"]["code"] == "idempotency_conflict"
    assert await db.taxes.count_documents({"entity_id": entity["id"]}) == 0


async def test_an_unannounced_tax_is_announced_before_the_item_using_it(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    """A tax auto-created by a command that died before publishing (still ``_pending``) is
    published before the first item that reuses it, not left to the relay."""
    store = MongoStore(db)
    ctx = CommandContext.of(Resource.ITEM, CreateItem(name="died"), acting(entity["id"]), None)
    orphan = ctx.record(Resource.TAX, new_tax(entity["id"], Decimal(17)))
    await store.taxes.add_auto(orphan, Decimal(17))
    tap = await client.subscribe("#")
    item = await create(client, entity, {"name": "Reuser", "price": 1, "taxes": [{"rate": 17}]})
    assert item.body["tax_ids"] == [orphan.id]
    item_event = await tap.wait_for(lambda m: m.routing_key == "item.created")
    tax_events = [m for m in tap.of_type("tax.created") if body(m)["id"] == orphan.id]
    assert tax_events, "the pending tax was not announced with the item"
    assert tap.messages.index(tax_events[0]) < tap.messages.index(item_event)
    assert tax_events[0].message_id == orphan.event.id  # its own event id, not a new one


# -- concurrency ------------------------------------------------------------------------------


async def test_ten_concurrent_items_with_a_new_rate_create_one_tax(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    tap = await client.subscribe("tax.created")
    replies = await asyncio.gather(
        *(
            client.command(
                "item.create",
                {"name": f"Concurrent {i}", "price": 100, "taxes": [{"rate": 13.5}]},
                entity_id=entity["id"],
            )
            for i in range(10)
        )
    )
    assert [r.status for r in replies] == [201] * 10
    tax_ids = {tuple(r.body["tax_ids"]) for r in replies}
    assert len(tax_ids) == 1
    assert await db.taxes.count_documents({"entity_id": entity["id"]}) == 1
    assert all(r.body["total_tax"] == 13.5 for r in replies)
    (tax_id,) = next(iter(tax_ids))
    await tap.wait_for(lambda m: body(m)["id"] == tax_id)
    assert {body(m)["id"] for m in tap.of_type("tax.created")} == {tax_id}


async def test_racing_handlers_share_one_auto_created_tax(
    entity: dict[str, Any], db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten handlers at once, each made to finish its lookup ("no tax with this rate") before
    any of them inserts: the unique index, not timing, leaves one tax for all ten items."""
    barrier = asyncio.Barrier(10)
    look_up = MongoTaxes.by_rates

    async def look_up_together(*args: Any) -> dict[Decimal, Any]:
        found = await look_up(*args)
        await barrier.wait()
        return found

    monkeypatch.setattr(MongoTaxes, "by_rates", look_up_together)
    store = MongoStore(db)
    command = CreateItem(name="Race", price=Decimal(10), taxes=[TaxRef(rate=Decimal(7))])
    outcomes = await asyncio.gather(
        *(
            create_item(
                command,
                CommandContext.of(Resource.ITEM, command, acting(entity["id"]), None),
                store,
            )
            for _ in range(10)
        )
    )
    tax_ids = {tuple(o.record.model.tax_ids) for o in outcomes}
    assert len(tax_ids) == 1
    assert await db.taxes.count_documents({"entity_id": entity["id"]}) == 1
    assert await db.items.count_documents({"entity_id": entity["id"]}) == 10


async def test_racing_auto_tax_inserts_have_exactly_one_winner(
    entity: dict[str, Any], db: Any
) -> None:
    store = MongoStore(db)
    ctx = CommandContext.of(Resource.ITEM, CreateItem(name="x"), acting(entity["id"]), None)
    candidates = [
        ctx.record(Resource.TAX, new_tax(entity["id"], Decimal("4.5"))) for _ in range(10)
    ]
    results = await asyncio.gather(
        *(store.taxes.add_auto(tax, Decimal("4.5")) for tax in candidates)
    )
    # Exactly one candidate was stored, and every caller got that one.
    assert await db.taxes.count_documents({"entity_id": entity["id"]}) == 1
    assert len({tax.id for tax in results}) == 1
    assert results[0].id in {tax.id for tax in candidates}


# -- refusals ---------------------------------------------------------------------------------

OTHER_TAX = "other"  # placeholder: replaced by a tax id of another entity
MISSING_TAX = "tax_" + "0" * 24

INVALID = [
    ({"name": "X", "price": 10, "gross_price": 12}, 422, "validation_error", ["price"],
     "both prices"),
    ({"name": "X", "price": -1}, 422, "validation_error", ["price"], "negative price"),
    ({"name": "X", "gross_price": -0.01}, 422, "validation_error", ["gross_price"],
     "negative gross price"),
    ({"name": "X", "price": 10.005}, 422, "validation_error", ["price"], "3 decimals"),
    ({"name": "X", "price": 1e12}, 422, "validation_error", ["price"], "too large"),
    ({"name": "X", "price": "ten"}, 422, "validation_error", ["price"], "not a number"),
    ({"name": "X", "taxes": [{"rate": 101}]}, 422, "validation_error", ["taxes", 0, "rate"],
     "rate over 100"),
    ({"name": "X", "taxes": [{"classification": "nope"}]}, 422, "tax_not_found",
     ["taxes", 0, "classification"], "unknown classification"),
    ({"name": "X", "tax_ids": [MISSING_TAX]}, 422, "tax_not_found", ["tax_ids", 0],
     "unknown tax id"),
    ({"name": "X", "tax_ids": [OTHER_TAX]}, 422, "tax_not_found", ["tax_ids", 0],
     "another entity's tax id"),
    ({"name": "X", "taxes": [{"rate": 22}, {"rate": 22}]}, 422, "validation_error",
     ["taxes", 1], "same rate twice"),
    ({"name": "X", "tax_ids": [MISSING_TAX, MISSING_TAX]}, 422, "validation_error",
     ["tax_ids", 1], "same id twice"),
    ({"name": "X", "taxes": [{"rate": 22, "classification": "s"}]}, 422, "validation_error",
     ["taxes", 0], "rate and classification"),
    ({"name": "X", "taxes": [{}]}, 422, "validation_error", ["taxes", 0], "empty tax"),
    ({"name": "X", "tax_ids": ["tax_1"]}, 422, "validation_error", ["tax_ids", 0], "bad id"),
    ({"price": 10}, 422, "validation_error", ["name"], "missing name"),
    ({"name": "X", "taxes": [{"rate": r} for r in range(11)]}, 422, "validation_error",
     ["taxes"], "11 taxes"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "status", "code", "loc", "why"), INVALID, ids=[case[4] for case in INVALID]
)
async def test_invalid_item_is_refused_kept_and_announced(
    client: RawClient, entity: dict[str, Any], settings: Settings, db: Any,
    payload: dict[str, Any], status: int, code: str, loc: list[str | int], why: str,
) -> None:  # fmt: skip
    if payload.get("tax_ids") == [OTHER_TAX]:
        other = await client.command("entity.create", {"name": "Other entity"})
        tax = await client.command("tax.create", {"rate": 22}, entity_id=other.body["id"])
        payload = {**payload, "tax_ids": [tax.body["id"]]}
    await assert_refused(
        client, settings, "item.create", payload,
        entity_id=entity["id"], status=status, code=code, loc=loc,
    )  # fmt: skip
    assert await db.items.count_documents({"entity_id": entity["id"]}) == 0
    assert await db.taxes.count_documents({"entity_id": entity["id"]}) == 0


async def test_both_prices_are_refused_naming_both(
    client: RawClient, entity: dict[str, Any], settings: Settings
) -> None:
    error = await assert_refused(
        client, settings, "item.create", {"name": "X", "price": 100, "gross_price": 122},
        entity_id=entity["id"], status=422, code="validation_error", loc=["price"],
    )  # fmt: skip
    assert [d["loc"] for d in error["errors"]] == [["price"], ["gross_price"]]
    assert "gross_price" in error["message"]


@pytest.mark.parametrize("second_way", ["tax_ids", "classification"])
async def test_the_same_tax_reached_two_ways_is_refused(
    client: RawClient, entity: dict[str, Any], settings: Settings, db: Any, second_way: str
) -> None:
    tax = await client.command(
        "tax.create", {"rate": 22, "classification": "standard"}, entity_id=entity["id"]
    )
    payload: dict[str, Any] = {"name": "Twice", "price": 100, "taxes": [{"rate": 22}]}
    if second_way == "tax_ids":
        payload["tax_ids"] = [tax.body["id"]]
        loc: list[str | int] = ["tax_ids", 0]
    else:
        payload["taxes"].append({"classification": "standard"})
        loc = ["taxes", 1, "classification"]
    error = await assert_refused(
        client, settings, "item.create", payload,
        entity_id=entity["id"], status=422, code="validation_error", loc=loc,
    )  # fmt: skip
    assert tax.body["id"] in error["message"]
    assert await db.items.count_documents({"entity_id": entity["id"]}) == 0


async def test_a_refused_item_creates_no_tax(
    client: RawClient, entity: dict[str, Any], settings: Settings, db: Any
) -> None:
    await assert_refused(
        client, settings, "item.create",
        {"name": "X", "taxes": [{"rate": 5}, {"classification": "missing"}]},
        entity_id=entity["id"], status=422, code="tax_not_found",
        loc=["taxes", 1, "classification"],
    )  # fmt: skip
    assert await db.taxes.count_documents({"entity_id": entity["id"]}) == 0
