"""List requests end to end: raw AMQP request/reply, the real query service and database."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from invoicebus.settings import Settings
from invoicebus_contracts import Resource
from tests.support.amqp import RawClient, body, peek_queue
from tests.support.listing import customer, ids, item, list_of, names, page, seed

pytestmark = pytest.mark.usefixtures("command_service", "query_service")

CUSTOMER_FIELDS = [
    "id", "name", "email", "address", "address_2", "post_code", "city", "state", "country",
    "country_code", "tax_number", "entity_id", "metadata", "vies", "created_at", "updated_at",
]  # fmt: skip
ITEM_FIELDS = [
    "id", "name", "description", "price", "gross_price", "total_tax", "tax_ids", "unit",
    "entity_id", "metadata", "created_at", "updated_at",
]  # fmt: skip
EMPTY = {"total": 0, "next_cursor": None, "prev_cursor": None, "has_more": False}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


async def refused(
    client: RawClient, resource: str, entity_id: str | None, code: str, loc: list[Any], **req: Any
) -> dict[str, Any]:
    reply = await list_of(client, resource, entity_id, **req)
    assert reply.status == (404 if code == "entity_not_found" else 422), reply.body
    error: dict[str, Any] = reply.body["error"]
    assert error["code"] == code, error
    assert [d["loc"] for d in error["errors"]] == [loc], error
    return error


# -- the API references' examples -----------------------------------------------------------


async def test_customer_reference_example(client: RawClient, entity: dict[str, Any]) -> None:
    created = await client.command(
        "customer.create", {"name": "Minimal Customer"}, entity_id=entity["id"]
    )
    assert created.status == 201
    reply = await list_of(client, "customer", entity["id"])
    assert reply.status == 200
    assert reply.message.headers["x-status"] == 200
    assert reply.message.content_type == "application/json"
    assert list(reply.body) == ["data", "pagination"]
    assert reply.body["pagination"] == {
        "total": 1, "next_cursor": None, "prev_cursor": None, "has_more": False,
    }  # fmt: skip
    (listed,) = reply.body["data"]
    assert list(listed) == CUSTOMER_FIELDS
    assert listed == created.body  # field for field, as the create reply and the event
    reference = {
        "name": "Minimal Customer", "email": None, "address": None, "address_2": None,
        "post_code": None, "city": None, "state": None, "country": None, "country_code": None,
        "tax_number": None, "entity_id": entity["id"], "metadata": {}, "vies": None,
    }  # fmt: skip
    assert {k: listed[k] for k in reference} == reference


async def test_item_reference_example(client: RawClient, entity: dict[str, Any]) -> None:
    created = await client.command(
        "item.create",
        {
            "name": "Professional Consulting Service",
            "description": "Hourly consulting rate for software architecture",
            "price": 200,
            "taxes": [{"rate": 22}],
            "metadata": {"category": "services", "unit": "hour"},
        },
        entity_id=entity["id"],
    )
    assert created.status == 201, created.body
    listed = await page(client, "item", entity["id"])
    assert listed["pagination"] == {
        "total": 1, "next_cursor": None, "prev_cursor": None, "has_more": False,
    }  # fmt: skip
    (got,) = listed["data"]
    assert list(got) == ITEM_FIELDS
    assert got == created.body
    assert (got["price"], got["gross_price"], got["total_tax"]) == (200, None, 44)
    assert got["metadata"] == {"category": "services", "unit": "hour"}
    (tax_id,) = got["tax_ids"]
    taxes = await page(client, "tax", entity["id"], query={"id": tax_id})
    assert [(t["id"], t["rate"]) for t in taxes["data"]] == [(tax_id, 22)]


async def test_reference_operator_examples_adapted_to_allowed_fields(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    e = entity["id"]
    await seed(db, Resource.ITEM, [
        item(e, "Small", "999.99", created_at=at("2024-12-31T23:59:59.999Z")),
        item(e, "Exact", 1000, created_at=at("2025-01-01T00:00:00Z")),
        item(e, "Big", "2500.50", created_at=at("2025-12-31T23:59:59.999Z")),
        item(e, "Later", 5000, created_at=at("2026-01-01T00:00:00Z")),
    ])  # fmt: skip
    await seed(db, Resource.CUSTOMER, [customer(e, "Acme Inc"), customer(e, "ACME d.o.o."),
                                       customer(e, "Beta")])  # fmt: skip
    # {"total": {"gte": 1000}}: invoices over 1000 -> items priced 1000 or more
    over = await page(client, "item", e, query={"price": {"gte": 1000}})
    assert names(over) == ["Exact", "Big", "Later"]
    # {"customer.name": {"contains": "Acme"}} -> customers whose name contains "Acme"
    acme = await page(client, "customer", e, query={"name": {"contains": "Acme"}})
    assert names(acme) == ["Acme Inc", "ACME d.o.o."]
    # {"date": {"between": ["2025-01-01", "2025-12-31"]}} -> created in 2025, both ends included
    year = await page(
        client,
        "item",
        e,
        query=json.dumps({"created_at": {"between": ["2025-01-01", "2025-12-31"]}}),
    )
    assert names(year) == ["Exact", "Big"]
    # The examples as written name fields these resources don't have: refused, not ignored.
    for field, query in [
        ("total", {"total": {"gte": 1000}}),
        ("customer.name", {"customer.name": {"contains": "Acme"}}),
        ("date", {"date": {"between": ["2025-01-01", "2025-12-31"]}}),
    ]:
        await refused(client, "item", e, "invalid_query", ["query", field], query=query)


# -- every operator on the real server ------------------------------------------------------


@pytest.fixture
async def people(entity: dict[str, Any], db: Any) -> str:
    e: str = entity["id"]
    await seed(db, Resource.CUSTOMER, [
        customer(e, "Acme d.o.o.", city="Ljubljana", email="acme@x.si",
                 created_at=at("2024-01-01T10:00:00Z"), metadata={"crm": "A-1", "tier": "gold"}),
        customer(e, "ACME Corp", city="Maribor", created_at=at("2024-01-02T00:00:00Z"),
                 metadata={"tier": "silver"}),
        customer(e, "Beta (a+)+$", email="beta@y.com", created_at=at("2024-12-31T23:59:59.999Z")),
        customer(e, "Gamma .*", city="Ljubljana", email="g@z.de",
                 created_at=at("2025-06-15T12:00:00Z"), metadata={"crm": "G-7"}),
        customer(e, "Delta", city="Koper", created_at=at("2025-12-31T23:59:59.999Z"),
                 address="Obala 1\n"),
    ])  # fmt: skip
    return e


CUSTOMER_CASES: list[tuple[Any, list[str]]] = [
    ({"name": "Delta"}, ["Delta"]),
    ({"name": "delta"}, []),  # equals is exact
    ({"name": {"equals": "Gamma .*"}}, ["Gamma .*"]),
    ({"name": {"gt": "Acme d.o.o."}}, ["Beta (a+)+$", "Gamma .*", "Delta"]),
    ({"name": {"gte": "Acme d.o.o."}}, ["Acme d.o.o.", "Beta (a+)+$", "Gamma .*", "Delta"]),
    ({"name": {"lt": "Acme d.o.o."}}, ["ACME Corp"]),  # binary order: "C" < "c"
    ({"name": {"lte": "Acme d.o.o."}}, ["Acme d.o.o.", "ACME Corp"]),
    ({"name": {"between": ["B", "E"]}}, ["Beta (a+)+$", "Delta"]),
    ({"name": {"in": ["Delta", "Beta (a+)+$", "nobody"]}}, ["Beta (a+)+$", "Delta"]),
    ({"name": {"notIn": ["Delta", "Beta (a+)+$"]}}, ["Acme d.o.o.", "ACME Corp", "Gamma .*"]),
    ({"name": {"contains": "acme"}}, ["Acme d.o.o.", "ACME Corp"]),
    ({"name": {"contains": "CME C"}}, ["ACME Corp"]),
    ({"name": {"startsWith": "acme"}}, ["Acme d.o.o.", "ACME Corp"]),
    ({"name": {"startsWith": "cme"}}, []),
    ({"name": {"endsWith": "D.O.O."}}, ["Acme d.o.o."]),
    ({"name": {"endsWith": "d.o"}}, []),
    ({"name": {"contains": ".*"}}, ["Gamma .*"]),  # literal, not "anything"
    ({"name": {"contains": "(a+)+$"}}, ["Beta (a+)+$"]),
    ({"name": {"endsWith": "+$"}}, ["Beta (a+)+$"]),
    ({"name": {"startsWith": "."}}, []),
    ({"name": {"contains": "a", "startsWith": "g"}}, ["Gamma .*"]),
    ({"address": {"endsWith": "obala 1"}}, []),  # the end of the text, not of a line
    ({"address": {"endsWith": "1\n"}}, ["Delta"]),
    ({"city": "Ljubljana"}, ["Acme d.o.o.", "Gamma .*"]),
    ({"city": None}, ["Beta (a+)+$"]),
    ({"email": None}, ["ACME Corp", "Delta"]),
    ({"email": {"in": [None, "g@z.de"]}}, ["ACME Corp", "Gamma .*", "Delta"]),
    ({"email": {"notIn": [None]}}, ["Acme d.o.o.", "Beta (a+)+$", "Gamma .*"]),
    ({"email": {"endsWith": ".si"}}, ["Acme d.o.o."]),
    ({"city": "Ljubljana", "email": {"contains": "z"}}, ["Gamma .*"]),
    ({"metadata.tier": "gold"}, ["Acme d.o.o."]),
    ({"metadata.tier": {"in": ["gold", "silver"]}}, ["Acme d.o.o.", "ACME Corp"]),
    ({"metadata.crm": {"startsWith": "g-"}}, ["Gamma .*"]),
    ({"metadata.missing": "x"}, []),
    ({"created_at": "2024-01-01"}, ["Acme d.o.o."]),
    ({"created_at": {"equals": "2024-01-01T10:00:00.000Z"}}, ["Acme d.o.o."]),
    ({"created_at": {"equals": "2024-01-01T12:00:00+02:00"}}, ["Acme d.o.o."]),
    ({"created_at": {"lt": "2024-01-02"}}, ["Acme d.o.o."]),
    ({"created_at": {"lte": "2024-01-02"}}, ["Acme d.o.o.", "ACME Corp"]),
    ({"created_at": {"lte": "2024-01-02T00:00:00Z"}}, ["Acme d.o.o.", "ACME Corp"]),
    ({"created_at": {"lt": "2024-01-02T00:00:00Z"}}, ["Acme d.o.o."]),
    ({"created_at": {"gt": "2024-12-31"}}, ["Gamma .*", "Delta"]),
    ({"created_at": {"gte": "2024-12-31"}}, ["Beta (a+)+$", "Gamma .*", "Delta"]),
    ({"created_at": {"gt": "2024-12-31T23:59:59.998Z"}}, ["Beta (a+)+$", "Gamma .*", "Delta"]),
    ({"created_at": {"between": ["2025-01-01", "2025-12-31"]}}, ["Gamma .*", "Delta"]),
    ({"created_at": {"between": ["2024-01-01T10:00:00Z", "2024-01-02T00:00:00Z"]}},
     ["Acme d.o.o.", "ACME Corp"]),
    ({"created_at": {"in": ["2024-01-02", "2025-06-15"]}}, ["ACME Corp", "Gamma .*"]),
    ({"created_at": {"notIn": ["2024-01-02", "2025-06-15"]}},
     ["Acme d.o.o.", "Beta (a+)+$", "Delta"]),
    ({"updated_at": {"gte": "2025-01-01"}}, ["Gamma .*", "Delta"]),
]  # fmt: skip


@pytest.mark.parametrize(("query", "expected"), CUSTOMER_CASES)
async def test_customer_operators(
    client: RawClient, people: str, query: Any, expected: list[str]
) -> None:
    found = await page(client, "customer", people, query=query)
    assert names(found) == expected
    assert found["pagination"]["total"] == len(expected)
    as_text = await page(client, "customer", people, query=json.dumps(query))
    assert names(as_text) == expected


async def test_id_operators(client: RawClient, people: str) -> None:
    everyone = await page(client, "customer", people)
    all_ids = ids(everyone)
    assert len(all_ids) == 5
    assert ids(await page(client, "customer", people, query={"id": all_ids[2]})) == [all_ids[2]]
    picked = await page(client, "customer", people, query={"id": {"in": all_ids[3:]}})
    assert ids(picked) == all_ids[3:]
    after = await page(client, "customer", people, query={"id": {"gt": all_ids[1]}})
    assert ids(after) == all_ids[2:]
    others = await page(client, "customer", people, query={"id": {"notIn": all_ids[:4]}})
    assert ids(others) == all_ids[4:]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"price": 0.3}, ["0.3"]),  # exact: 0.1 + 0.2 is stored as 0.30, not a float
        ({"price": 200}, ["200", "200.00"]),  # numerically equal
        ({"price": {"gt": 200}}, ["1000", "2500.5"]),
        ({"price": {"gte": 200}}, ["200", "200.00", "1000", "2500.5"]),
        ({"price": {"lt": 0.3}}, ["0.1", "0.2"]),
        ({"price": {"lte": 0.3}}, ["0.1", "0.2", "0.3"]),
        ({"price": {"between": [0.2, 200]}}, ["0.2", "0.3", "200", "200.00"]),
        ({"price": {"in": [0.1, 1000]}}, ["0.1", "1000"]),
        ({"price": {"notIn": [200, 0.1]}}, ["0.2", "0.3", "1000", "2500.5", None]),
        ({"price": None}, [None]),
        ({"unit": "hour", "price": {"gte": 1}}, ["200", "1000"]),
        ({"description": {"contains": "ARCH"}}, ["1000"]),
        ({"name": {"startsWith": "price 0."}}, ["0.1", "0.2", "0.3"]),
    ],
)
async def test_item_number_operators(
    client: RawClient, entity: dict[str, Any], db: Any, query: Any, expected: list[Any]
) -> None:
    e = entity["id"]
    prices: list[Any] = ["0.1", "0.2", "0.3", "200", "200.00", "1000", "2500.5", None]
    await seed(db, Resource.ITEM, [
        item(e, f"price {p}", p, unit="hour" if p in ("200", "1000") else None,
             description="Software architecture" if p == "1000" else None)
        for p in prices
    ])  # fmt: skip
    found = await page(client, "item", e, query=query)
    assert names(found) == [f"price {p}" for p in expected]
    as_text = json.dumps(query)  # JSON numbers such as 0.1, which the service reads exactly
    assert names(await page(client, "item", e, query=as_text)) == names(found)


async def test_tax_list(client: RawClient, entity: dict[str, Any]) -> None:
    for rate, classification in [(22, "standard"), (9.5, "reduced"), (0, None)]:
        payload: dict[str, Any] = {"rate": rate, "name": f"VAT {rate}"}
        if classification:
            payload["classification"] = classification
        assert (await client.command("tax.create", payload, entity_id=entity["id"])).status == 201
    taxes = await page(client, "tax", entity["id"], order_by="-rate")
    assert [t["rate"] for t in taxes["data"]] == [22, 9.5, 0]
    reduced = await page(client, "tax", entity["id"], query={"rate": {"lt": 10, "gt": 0}})
    assert [t["classification"] for t in reduced["data"]] == ["reduced"]
    standard = await page(client, "tax", entity["id"], search="STAND")
    assert [t["name"] for t in standard["data"]] == ["VAT 22"]
    await refused(client, "tax", entity["id"], "invalid_query", ["query", "metadata.x"],
                  query={"metadata.x": "y"})  # fmt: skip


# -- search ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("search", "query", "expected"),
    [
        ("ljubljana", None, ["Acme d.o.o.", "Gamma .*"]),  # a text field
        ("GOLD", None, ["Acme d.o.o."]),  # a metadata value
        ("g-7", None, ["Gamma .*"]),
        ("@y.co", None, ["Beta (a+)+$"]),
        ("(a+)+$", None, ["Beta (a+)+$"]),  # literal
        (".*", None, ["Gamma .*"]),
        ("a", {"city": "Ljubljana"}, ["Acme d.o.o.", "Gamma .*"]),  # AND with query
        ("gold", {"city": "Maribor"}, []),
        ("nothing like it", None, []),
        ("  koper  ", None, ["Delta"]),  # trimmed
        ("", None, ["Acme d.o.o.", "ACME Corp", "Beta (a+)+$", "Gamma .*", "Delta"]),
    ],
)
async def test_search(
    client: RawClient, people: str, search: str, query: Any, expected: list[str]
) -> None:
    found = await page(client, "customer", people, search=search, query=query)
    assert names(found) == expected
    assert found["pagination"]["total"] == len(expected)


# -- refusals -------------------------------------------------------------------------------


HOSTILE: list[tuple[Any, list[Any]]] = [
    ({"name": {"$ne": None}}, ["query", "name", "$ne"]),
    ({"$where": "sleep(100) || true"}, ["query", "$where"]),
    ({"$or": [{"name": "a"}, {"name": {"$exists": True}}]}, ["query", "$or"]),
    ({"$expr": {"$gt": ["$price", 0]}}, ["query", "$expr"]),
    ({"name": {"$regex": ".*"}}, ["query", "name", "$regex"]),
    ({"name": {"equals": {"$ne": None}}}, ["query", "name", "equals"]),
    ({"name": {"in": [{"$gt": ""}]}}, ["query", "name", "in", 0]),
    ({"name": {"$gt": ""}, "city": "x"}, ["query", "name", "$gt"]),
    ({"metadata.$where": "x"}, ["query", "metadata.$where"]),
    ({"entity_id": "ent_000000000000000000000000"}, ["query", "entity_id"]),
    ({"_search": "x"}, ["query", "_search"]),
    ({"_idem.key": "x"}, ["query", "_idem.key"]),
    ({"name": {"nested": {"deeper": {"deepest": 1}}}}, ["query", "name", "nested"]),
    ({"name": {"in": ["x"] * 101}}, ["query", "name", "in"]),
    ({f"metadata.k{i}": "v" for i in range(21)}, ["query"]),
    ({"created_at": {"gte": "last tuesday"}}, ["query", "created_at", "gte"]),
    ({"created_at": {"gte": 1704067200}}, ["query", "created_at", "gte"]),
    ({"name": {"between": ["z", "a"]}}, ["query", "name", "between"]),
    ({"name": ["a", "b"]}, ["query", "name"]),
    ("[1, 2, 3]", ["query"]),
    ('"name"', ["query"]),
    ("{not json", ["query"]),
    ('{"name": NaN}', ["query"]),
    ("[" * 3000 + "]" * 3000, ["query"]),
    ([{"name": "a"}], ["query"]),  # an array, not an object
    (42, ["query"]),
    (True, ["query"]),
]


@pytest.mark.parametrize(("query", "loc"), HOSTILE)
async def test_hostile_queries_are_invalid_query(
    client: RawClient, people: str, query: Any, loc: list[Any]
) -> None:
    error = await refused(client, "customer", people, "invalid_query", loc, query=query)
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(".".join(map(str, loc)))


async def test_wrong_types_for_numbers_are_invalid_query(
    client: RawClient, entity: dict[str, Any]
) -> None:
    for query, loc in [
        ({"price": "100"}, ["query", "price"]),
        ({"price": {"gte": True}}, ["query", "price", "gte"]),
        ({"price": {"lt": {"value": 1}}}, ["query", "price", "lt"]),
        ({"price": {"contains": "1"}}, ["query", "price", "contains"]),
    ]:
        await refused(client, "item", entity["id"], "invalid_query", loc, query=query)
    # 1e7000 is valid JSON, read as a decimal, but beyond the range of the stored decimals.
    reply = await client.query(
        "item.list", b'{"query": {"price": {"gte": 1e7000}}}', entity_id=entity["id"]
    )
    assert reply.status == 422
    assert reply.body["error"]["errors"][0]["loc"] == ["query", "price", "gte"]


async def test_text_that_is_not_unicode_is_refused(
    client: RawClient, entity: dict[str, Any]
) -> None:
    """JSON can escape a lone surrogate, which no database can store or match."""
    for raw in (rb'{"query": {"name": "\ud800"}}', rb'{"query": "{\"name\": \"\\ud800\"}"}'):
        reply = await client.query("customer.list", raw, entity_id=entity["id"])
        assert reply.status == 422, reply.body
        assert reply.body["error"]["code"] == "invalid_query"
        assert reply.body["error"]["errors"][0]["loc"] == ["query", "name"]
    reply = await client.query("customer.list", rb'{"search": "\ud800"}', entity_id=entity["id"])
    assert reply.status == 422 and reply.body["error"]["errors"][0]["loc"] == ["search"]


async def test_order_by_must_be_a_sortable_field(client: RawClient, entity: dict[str, Any]) -> None:
    for order_by in ("password", "-metadata.x", "--name", "entity_id"):
        await refused(client, "customer", entity["id"], "invalid_query", ["order_by"],
                      order_by=order_by)  # fmt: skip
    assert (await page(client, "customer", entity["id"], order_by="-email"))["data"] == []


async def test_request_body_is_validated(client: RawClient, entity: dict[str, Any]) -> None:
    e = entity["id"]
    await refused(client, "customer", e, "validation_error", ["limit"], limit=0)
    await refused(client, "customer", e, "validation_error", ["limit"], limit=101)
    await refused(client, "customer", e, "validation_error", ["limit"], limit=-5)
    await refused(client, "customer", e, "validation_error", ["limt"], limt=5)
    await refused(client, "customer", e, "validation_error", ["search"], search="x" * 201)
    await refused(client, "customer", e, "validation_error", ["include_total_count"],
                  include_total_count="maybe")  # fmt: skip
    for raw in (b"not json", b"[]", b"\xff"):
        reply = await client.query("customer.list", raw, entity_id=e)
        assert reply.status == 422 and reply.body["error"]["code"] == "validation_error"
    assert (await page(client, "customer", e, limit=100))["data"] == []
    assert (await page(client, "customer", e, limit=1))["data"] == []


async def test_limit_bounds_pages(client: RawClient, entity: dict[str, Any], db: Any) -> None:
    e = entity["id"]
    await seed(db, Resource.CUSTOMER, [customer(e, f"c{i:03d}") for i in range(105)])
    assert len(ids(await page(client, "customer", e))) == 10  # the default
    assert len(ids(await page(client, "customer", e, limit=1))) == 1
    full = await page(client, "customer", e, limit=100)
    assert len(ids(full)) == 100 and full["pagination"]["has_more"]
    rest = await page(
        client, "customer", e, limit=100, next_cursor=full["pagination"]["next_cursor"]
    )
    assert len(ids(rest)) == 5 and not rest["pagination"]["has_more"]


async def test_total_counts_every_match_or_is_minus_one(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    e = entity["id"]
    await seed(db, Resource.CUSTOMER, [customer(e, f"n{i}", city="Kranj" if i % 3 else None)
                                       for i in range(25)])  # fmt: skip
    first = await page(client, "customer", e, limit=4, query={"city": "Kranj"})
    assert first["pagination"]["total"] == 16 and len(first["data"]) == 4
    second = await page(client, "customer", e, limit=4, query={"city": "Kranj"},
                        next_cursor=first["pagination"]["next_cursor"])  # fmt: skip
    assert second["pagination"]["total"] == 16  # all matches, not what is left after the cursor
    assert (await page(client, "customer", e, search="n1"))["pagination"]["total"] == 11
    quick = await page(client, "customer", e, limit=4, include_total_count=False)
    assert quick["pagination"]["total"] == -1
    assert len(quick["data"]) == 4 and quick["pagination"]["has_more"]


# -- cursors --------------------------------------------------------------------------------


async def test_invalid_cursors(client: RawClient, entity: dict[str, Any], db: Any) -> None:
    e = entity["id"]
    await seed(db, Resource.CUSTOMER, [customer(e, f"c{i}", city="Bled") for i in range(6)])
    first = await page(client, "customer", e, limit=2, order_by="name", query={"city": "Bled"})
    nxt = first["pagination"]["next_cursor"]
    second = await page(client, "customer", e, limit=2, order_by="name", query={"city": "Bled"},
                        next_cursor=nxt)  # fmt: skip
    prev = second["pagination"]["prev_cursor"]
    same = {"limit": 2, "order_by": "name", "query": {"city": "Bled"}}

    async def bad(loc: str, **request: Any) -> str:
        error = await refused(client, "customer", e, "invalid_cursor", [loc], **request)
        return str(error["message"])

    for garbage in ("", "garbage", "eyJ2IjoxfQ", "A" * 1024, "💥", nxt[:-3]):
        if garbage:
            await bad("next_cursor", **same, next_cursor=garbage)
    assert "different list" in await bad("next_cursor", **{**same, "order_by": "-name"},
                                         next_cursor=nxt)  # fmt: skip
    assert "different list" in await bad("next_cursor", **{**same, "query": {"city": "Bohinj"}},
                                         next_cursor=nxt)  # fmt: skip
    assert "different list" in await bad("next_cursor", **same, search="c", next_cursor=nxt)
    assert "send it as next_cursor" in await bad("prev_cursor", **same, prev_cursor=nxt)
    assert "send it as prev_cursor" in await bad("next_cursor", **same, next_cursor=prev)
    assert "not both" in await bad("prev_cursor", **same, next_cursor=nxt, prev_cursor=prev)
    # A cursor of one resource means nothing to another.
    await refused(client, "item", e, "invalid_cursor", ["next_cursor"], next_cursor=nxt,
                  limit=2, order_by="name")  # fmt: skip
    # The limit may change between pages; the list is the same.
    wider = await page(client, "customer", e, **{**same, "limit": 10}, next_cursor=nxt)
    assert names(wider) == ["c2", "c3", "c4", "c5"]


async def test_next_then_prev_returns_the_same_page(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    e = entity["id"]
    await seed(db, Resource.CUSTOMER, [customer(e, f"c{i:02d}") for i in range(7)])
    p1 = await page(client, "customer", e, limit=3)
    assert p1["pagination"]["prev_cursor"] is None
    p2 = await page(client, "customer", e, limit=3, next_cursor=p1["pagination"]["next_cursor"])
    again = await page(client, "customer", e, limit=3, prev_cursor=p2["pagination"]["prev_cursor"])
    assert again == p1
    p3 = await page(client, "customer", e, limit=3, next_cursor=p2["pagination"]["next_cursor"])
    assert names(p3) == ["c06"] and p3["pagination"]["next_cursor"] is None
    back = await page(client, "customer", e, limit=3, prev_cursor=p3["pagination"]["prev_cursor"])
    assert back["data"] == p2["data"]


async def test_long_sort_values_page_through_a_cursor_without_them(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    """A value too long for a cursor (4 KB descriptions) is read back from its document."""
    e = entity["id"]
    docs = await seed(db, Resource.ITEM, [
        item(e, f"i{i}", 1, description=("ž" * 1999) + chr(ord("a") + i % 3)) for i in range(7)
    ])  # fmt: skip
    expected = [d["_id"] for d in sorted(docs, key=lambda d: (d["description"], d["_id"]))]
    seen: list[str] = []
    body = await page(client, "item", e, limit=3, order_by="description")
    while True:
        seen += ids(body)
        cursor = body["pagination"]["next_cursor"]
        if cursor is None:
            break
        assert len(cursor) <= 1024
        body = await page(client, "item", e, limit=3, order_by="description", next_cursor=cursor)
    assert seen == expected
    back = await page(client, "item", e, limit=3, order_by="description",
                      prev_cursor=body["pagination"]["prev_cursor"])  # fmt: skip
    assert ids(back) == expected[3:6]


# -- entities -------------------------------------------------------------------------------


async def test_nothing_crosses_entities(client: RawClient, entity: dict[str, Any], db: Any) -> None:
    other = await client.command("entity.create", {"name": "Other tenant"})
    a, b = entity["id"], other.body["id"]
    mine = await seed(db, Resource.CUSTOMER, [customer(a, "Same Name", city="X")])
    theirs = await seed(db, Resource.CUSTOMER, [customer(b, "Same Name", city="X"),
                                                customer(b, "Only Theirs")])  # fmt: skip
    assert ids(await page(client, "customer", a)) == [mine[0]["_id"]]
    assert ids(await page(client, "customer", a, search="same")) == [mine[0]["_id"]]
    assert ids(await page(client, "customer", a, query={"name": {"contains": "AME"}})) == [
        mine[0]["_id"]
    ]
    by_id = await page(client, "customer", a, query={"id": {"in": [d["_id"] for d in theirs]}})
    assert by_id["data"] == [] and by_id["pagination"] == EMPTY
    assert (await page(client, "customer", b))["pagination"]["total"] == 2
    # A cursor from one entity's list is refused by another's.
    p1 = await page(client, "customer", b, limit=1)
    await refused(client, "customer", a, "invalid_cursor", ["next_cursor"], limit=1,
                  next_cursor=p1["pagination"]["next_cursor"])  # fmt: skip


async def test_unknown_entity_is_not_found(client: RawClient, entity: dict[str, Any]) -> None:
    for header in ("ent_" + "0" * 24, "ent_nope", "$where", "x" * 500):
        error = await refused(client, "customer", header, "entity_not_found", ["x-entity-id"])
        assert "does not exist" in error["message"]


async def test_without_entity_header_the_first_entity_is_used(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    first = await db.entities.find_one({}, sort=[("_id", 1)])
    await seed(db, Resource.CUSTOMER, [customer(first["_id"], "In the first entity")])
    found = await page(client, "customer", None, search="In the first entity")
    assert [d["entity_id"] for d in found["data"]] == [first["_id"]]


async def test_entity_list_lists_every_entity(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    """Entities are the tenants: entity.list is the one list not scoped to an entity."""
    total = await db.entities.count_documents({})
    everyone = await page(client, "entity", None, limit=100, include_total_count=True)
    assert everyone["pagination"]["total"] == total
    mine = await page(client, "entity", None, query={"id": entity["id"]})
    assert mine["data"] == [entity]
    named = await page(client, "entity", "ent_" + "0" * 24, query={"name": entity["name"]})
    assert ids(named) == [entity["id"]]  # the header does not scope entity.list
    await refused(client, "entity", None, "invalid_query", ["query", "email"],
                  query={"email": "x"})  # fmt: skip


# -- behaviour of the service ---------------------------------------------------------------


async def test_read_your_writes(client: RawClient, entity: dict[str, Any]) -> None:
    tap = await client.subscribe("customer.created")
    for i in range(5):
        name = f"Fresh {uuid.uuid4().hex[:8]}"
        await client.publish("commands", "customer.create", {"name": name}, entity_id=entity["id"])
        event = await tap.wait_for(lambda m, n=name: body(m)["name"] == n)
        found = await page(client, "customer", entity["id"], query={"id": body(event)["id"]})
        assert names(found) == [name], i


async def test_request_without_reply_to_is_dropped_not_kept(
    client: RawClient, entity: dict[str, Any], settings: Settings, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING, logger="invoicebus.queries")
    marker = f"corr-{uuid.uuid4()}"
    await client.publish("queries", "customer.list", {"limit": 1}, entity_id=entity["id"],
                         correlation_id=marker)  # fmt: skip
    for _ in range(100):
        if any(marker in r.getMessage() and "reply_to" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the request without reply_to was not handled")
    # The service goes on answering, and nothing was left in the queue.
    assert (await page(client, "customer", entity["id"]))["data"] == []
    queue = settings.topology.query_queue(Resource.CUSTOMER)
    assert await peek_queue(settings.amqp_url, queue) == []


async def test_replies_carry_the_correlation_id(client: RawClient, entity: dict[str, Any]) -> None:
    correlation_id = f"corr-{uuid.uuid4()}"
    reply = await client.query("customer.list", {}, entity_id=entity["id"],
                               correlation_id=correlation_id)  # fmt: skip
    assert reply.message.correlation_id == correlation_id
    assert reply.status == 200


async def test_concurrent_requests_are_answered(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    e = entity["id"]
    await seed(db, Resource.CUSTOMER, [customer(e, f"c{i:02d}") for i in range(20)])
    replies = await asyncio.gather(
        *(page(client, "customer", e, limit=i + 1, order_by="-name") for i in range(20))
    )
    for i, reply in enumerate(replies):
        assert names(reply) == [f"c{19 - j:02d}" for j in range(i + 1)]
