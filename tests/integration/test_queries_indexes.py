"""The list indexes: created at start, and chosen by the server for filtered, sorted pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from invoicebus.adapters.mongo.client import COLLECTIONS, collection
from invoicebus.adapters.mongo.reader import Reader, list_index_keys
from invoicebus.querying.compiler import and_, compile_query
from invoicebus.querying.cursors import parse_order_by
from invoicebus.querying.fields import FIELDS, Document
from invoicebus.querying.pagination import page_query
from invoicebus_contracts import Resource
from tests.support.listing import T0, customer, item, seed
from tests.support.plans import winning_stages

pytestmark = pytest.mark.usefixtures("query_service")

LIMIT = 10


async def explain_page(
    db: AsyncDatabase[Document], resource: Resource, entity_id: str, query: Any, order_by: str
) -> dict[str, Any]:
    """The server's plan for the first page the query service would fetch."""
    compiled = compile_query(resource, query)
    ordering = parse_order_by(resource, order_by)
    page = page_query(and_({"entity_id": entity_id}, compiled.filter), ordering, LIMIT, None)
    return await Reader(db).explain(resource, page.filter, page.sort, page.fetch)


async def test_every_sortable_field_has_its_list_index(db: AsyncDatabase[Document]) -> None:
    for resource in COLLECTIONS:
        indexes = [
            list(info["key"].items())
            async for info in await collection(db, resource).list_indexes()
        ]
        for field in FIELDS[resource].sortable:
            assert [(k, int(d)) for k, d in list_index_keys(resource, field)] in [
                [(k, int(d)) for k, d in keys] for keys in indexes
            ], (resource, field)


@pytest.mark.parametrize(
    ("resource", "query", "order_by", "key_pattern"),
    [
        (Resource.CUSTOMER, {"created_at": {"gte": "2024-01-02"}}, "created_at",
         {"entity_id": 1, "created_at": 1, "_id": 1}),
        (Resource.CUSTOMER, {"created_at": {"gte": "2024-01-02"}}, "-created_at",
         {"entity_id": 1, "created_at": 1, "_id": 1}),
        (Resource.CUSTOMER, {"name": {"gt": "c0100"}}, "name",
         {"entity_id": 1, "name": 1, "_id": 1}),
        (Resource.ITEM, {"price": {"gte": 50}}, "-price", {"entity_id": 1, "price": 1, "_id": 1}),
        (Resource.ITEM, {"price": {"between": [50, 150]}}, "price",
         {"entity_id": 1, "price": 1, "_id": 1}),
    ],
)  # fmt: skip
async def test_a_filtered_sorted_page_uses_its_list_index(
    db: AsyncDatabase[Document],
    entity: dict[str, Any],
    resource: Resource,
    query: dict[str, Any],
    order_by: str,
    key_pattern: dict[str, int],
) -> None:
    e = entity["id"]
    if resource is Resource.CUSTOMER:
        await seed(db, resource, [customer(e, f"c{i:04d}", created_at=T0 + timedelta(hours=i))
                                  for i in range(300)])  # fmt: skip
    else:
        await seed(db, resource, [item(e, f"i{i}", i) for i in range(300)])

    explained = await explain_page(db, resource, e, query, order_by)
    plan = winning_stages(explained)
    scans = [s for s in plan if s["stage"] == "IXSCAN"]
    assert [dict(s["keyPattern"]) for s in scans] == [key_pattern], plan

    if await Reader(db).is_secantus():
        print(
            "\nSecantusDB: only the index choice is checked. It reads the index range and then"
            " sorts in memory (a SORT stage), so 'no SORT stage' and 'keys examined <= limit+1'"
            " hold on MongoDB only."
        )
        return
    assert not [s for s in plan if s["stage"] == "SORT"], plan
    assert explained["executionStats"]["totalKeysExamined"] <= LIMIT + 1
