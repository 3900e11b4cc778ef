"""Keyset pagination over the real service: every document exactly once, each way, in order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from invoicebus_contracts import Resource
from tests.support.amqp import RawClient
from tests.support.listing import T0, customer, expected_order, ids, page, seed

pytestmark = pytest.mark.usefixtures("command_service", "query_service")

CUSTOMERS = 1000
PAGE = 100


async def walk(
    client: RawClient, entity_id: str, limit: int, **request: Any
) -> tuple[list[list[str]], list[list[str]]]:
    """Pages forward from the first to the last, then backward to the first again."""
    forward: list[list[str]] = []
    body = await page(client, "customer", entity_id, limit=limit, **request)
    assert body["pagination"]["prev_cursor"] is None
    while True:
        forward.append(ids(body))
        pagination = body["pagination"]
        assert pagination["has_more"] == (pagination["next_cursor"] is not None)
        if pagination["next_cursor"] is None:
            break
        assert len(body["data"]) == limit
        body = await page(
            client, "customer", entity_id, limit=limit, next_cursor=pagination["next_cursor"],
            include_total_count=False, **request,
        )  # fmt: skip
        assert body["pagination"]["total"] == -1
    backward = [ids(body)]
    while body["pagination"]["prev_cursor"] is not None:
        body = await page(
            client, "customer", entity_id, limit=limit,
            prev_cursor=body["pagination"]["prev_cursor"], **request,
        )  # fmt: skip
        assert body["pagination"]["next_cursor"] is not None
        backward.append(ids(body))
    return forward, backward


@pytest.fixture(scope="module")
async def thousand(
    client: RawClient, db: Any, command_service: Any
) -> tuple[str, list[dict[str, Any]]]:
    """1,000 customers of one entity, with many equal names and equal creation times (ties to
    break) and some without a city; shared by the tests that only read them."""
    reply = await client.command("entity.create", {"name": "A thousand customers"})
    assert reply.status == 201
    e = reply.body["id"]
    docs = await seed(db, Resource.CUSTOMER, [
        customer(e, f"Customer {(i * 7) % 37:02d}", created_at=T0 + timedelta(hours=i % 10),
                 city=None if i % 4 == 0 else f"City {i % 13}")
        for i in range(CUSTOMERS)
    ])  # fmt: skip
    return e, docs


@pytest.mark.parametrize("order_by", ["id", "-created_at", "name", "-name"])
async def test_a_thousand_customers_page_by_page_both_ways(
    client: RawClient, thousand: tuple[str, list[dict[str, Any]]], order_by: str
) -> None:
    entity_id, docs = thousand
    expected = expected_order(docs, order_by.lstrip("-"), descending=order_by.startswith("-"))
    forward, backward = await walk(client, entity_id, PAGE, order_by=order_by)
    assert len(forward) == CUSTOMERS // PAGE
    assert [i for p in forward for i in p] == expected  # each exactly once, in order
    assert backward == forward[::-1]  # the same pages, in reverse


@pytest.mark.parametrize("order_by", ["city", "-city", "email", "-email"])
async def test_null_sort_values_come_first_ascending_and_last_descending(
    client: RawClient, entity: dict[str, Any], db: Any, order_by: str
) -> None:
    e = entity["id"]
    docs = await seed(db, Resource.CUSTOMER, [
        customer(e, f"n{i}", city=None if i % 3 == 0 else f"City {i % 4}",
                 email=None if i % 5 < 2 else f"user{i % 6}@example.com")
        for i in range(50)
    ])  # fmt: skip
    field = order_by.lstrip("-")
    expected = expected_order(docs, field, descending=order_by.startswith("-"))
    forward, backward = await walk(client, e, 7, order_by=order_by)
    flat = [i for p in forward for i in p]
    assert flat == expected
    assert backward == forward[::-1]
    nulls = {d["_id"] for d in docs if d[field] is None}
    where = flat[: len(nulls)] if not order_by.startswith("-") else flat[-len(nulls) :]
    assert set(where) == nulls


async def test_inserts_between_pages_neither_repeat_nor_skip(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    """New customers land after the cursor (default order): they show up, nothing repeats."""
    e = entity["id"]
    original = await seed(db, Resource.CUSTOMER, [customer(e, f"o{i:02d}") for i in range(30)])
    seen: list[str] = []
    added: list[str] = []
    body = await page(client, "customer", e, limit=8)
    while True:
        seen += ids(body)
        new = await seed(db, Resource.CUSTOMER, [customer(e, f"new{len(added) + i}")
                                                 for i in range(3)])  # fmt: skip
        added += [d["_id"] for d in new]
        cursor = body["pagination"]["next_cursor"]
        if cursor is None or len(added) > 30:
            break
        body = await page(client, "customer", e, limit=8, next_cursor=cursor)
    assert len(seen) == len(set(seen))
    assert seen[:30] == [d["_id"] for d in original]
    assert seen[30:] == added[: len(seen) - 30]


async def test_inserts_before_and_after_the_cursor_by_name(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    """Sorted by name, customers inserted before the cursor are not seen, those after it
    (ties included) are, and every customer that existed at the start is seen exactly once."""
    e = entity["id"]
    original = await seed(
        db, Resource.CUSTOMER, [customer(e, f"m{i:02d}") for i in range(0, 40, 2)]
    )
    seen: list[dict[str, Any]] = []
    before: list[str] = []
    after: list[str] = []
    body = await page(client, "customer", e, limit=5, order_by="name")
    while True:
        seen += body["data"]
        cursor = body["pagination"]["next_cursor"]
        if cursor is None:
            break
        last = seen[-1]["name"]
        # One name before the cursor, one right after it, one tied with the last seen name.
        early, *late = await seed(db, Resource.CUSTOMER, [
            customer(e, f"a-before-{len(seen)}"), customer(e, last + "+"), customer(e, last),
        ])  # fmt: skip
        before.append(early["_id"])
        after += [d["_id"] for d in late]
        body = await page(client, "customer", e, limit=5, order_by="name", next_cursor=cursor)
    seen_ids = [d["id"] for d in seen]
    assert len(seen_ids) == len(set(seen_ids))
    originals = {d["_id"] for d in original}
    assert [i for i in seen_ids if i in originals] == [d["_id"] for d in original]
    assert set(after) <= set(seen_ids)
    assert not set(before) & set(seen_ids)
    names = [d["name"] for d in seen]
    assert names == sorted(names)
