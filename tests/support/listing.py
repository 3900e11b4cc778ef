"""Helpers for list tests: documents written straight into the database, and list requests.

Seeding goes through the contract models and ``documents.to_document``, so the stored documents
are exactly what the command service would write, only faster (``insert_many`` in batches).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bson import Decimal128
from pymongo.asynchronous.database import AsyncDatabase

from invoicebus.adapters.mongo.client import collection
from invoicebus.adapters.mongo.documents import to_document
from invoicebus.domain.ids import new_id
from invoicebus.querying.fields import Document
from invoicebus_contracts import Customer, Item, Resource
from tests.support.amqp import RawClient, Reply

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def customer(entity_id: str, name: str, **fields: Any) -> Customer:
    created = fields.pop("created_at", T0)
    values: dict[str, Any] = dict.fromkeys(
        ("email", "address", "address_2", "post_code", "city", "state", "country",
         "country_code", "tax_number"),
    )  # fmt: skip
    values.update(metadata={}, updated_at=created)
    values.update(fields)
    return Customer(
        id=new_id(Resource.CUSTOMER), name=name, entity_id=entity_id, created_at=created, **values
    )


def item(entity_id: str, name: str, price: Decimal | int | str | None, **fields: Any) -> Item:
    created = fields.pop("created_at", T0)
    values: dict[str, Any] = {
        "description": None, "gross_price": None, "total_tax": Decimal(0), "tax_ids": [],
        "unit": None, "metadata": {}, "updated_at": created,
    }  # fmt: skip
    values.update(fields)
    return Item(
        id=new_id(Resource.ITEM),
        name=name,
        price=None if price is None else Decimal(str(price)),
        entity_id=entity_id,
        created_at=created,
        **values,
    )


async def seed(
    db: AsyncDatabase[Document],
    resource: Resource,
    models: Iterable[Customer | Item],
    *,
    batch: int = 500,
) -> list[Document]:
    """Store the models as the command service would; returns their documents in order."""
    docs = [to_document(resource, m) for m in models]
    for start in range(0, len(docs), batch):
        await collection(db, resource).insert_many(docs[start : start + batch])
    return docs


async def list_of(client: RawClient, resource: str, entity_id: str | None, **request: Any) -> Reply:
    return await client.query(f"{resource}.list", request, entity_id=entity_id)


async def page(client: RawClient, resource: str, entity_id: str | None, **request: Any) -> Any:
    """A list page that must succeed: its JSON body."""
    reply = await list_of(client, resource, entity_id, **request)
    assert reply.status == 200, reply.body
    return reply.body


def ids(body: Any) -> list[str]:
    return [d["id"] for d in body["data"]]


def names(body: Any) -> list[str]:
    return [d["name"] for d in body["data"]]


def expected_order(docs: Sequence[Document], field: str, *, descending: bool) -> list[str]:
    """Ids in MongoDB's order for ``order_by``: nulls first ascending, ties broken by id."""
    path = "_id" if field == "id" else field

    def key(doc: Document) -> tuple[Any, ...]:
        value = doc.get(path)
        if isinstance(value, Decimal128):
            value = value.to_decimal()
        return (value is not None, value if value is not None else 0, doc["_id"])

    ordered = sorted(docs, key=key, reverse=descending)
    return [d["_id"] for d in ordered]
