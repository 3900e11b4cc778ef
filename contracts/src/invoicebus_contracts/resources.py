"""Resources as they travel in replies, events and list pages.

Every documented field is present (null when unset) and fields are declared in the order of
the API references' examples, so a reply reads like the documentation.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from .fields import Amount, Timestamp


def _id(prefix: str) -> object:
    return Field(pattern=rf"^{prefix}_[0-9a-f]{{24}}$")


EntityId = Annotated[str, _id("ent")]


class Entity(BaseModel):
    id: EntityId
    name: str
    email: str | None
    address: str | None
    address_2: str | None
    post_code: str | None
    city: str | None
    state: str | None
    country: str | None
    country_code: str | None
    tax_number: str | None
    metadata: dict[str, str]
    created_at: Timestamp
    updated_at: Timestamp


class Customer(BaseModel):
    id: Annotated[str, _id("cust")]
    name: str
    email: str | None
    address: str | None
    address_2: str | None
    post_code: str | None
    city: str | None
    state: str | None
    country: str | None
    country_code: str | None
    tax_number: str | None
    entity_id: EntityId
    metadata: dict[str, str]
    vies: None = None  # VIES VAT validation is not offered; the field keeps the documented shape.
    created_at: Timestamp
    updated_at: Timestamp


class Tax(BaseModel):
    id: Annotated[str, _id("tax")]
    name: str | None
    rate: Amount
    classification: str | None
    entity_id: EntityId
    created_at: Timestamp
    updated_at: Timestamp


class Item(BaseModel):
    id: Annotated[str, _id("item")]
    name: str
    description: str | None
    price: Amount | None
    gross_price: Amount | None
    total_tax: Amount
    tax_ids: list[str]
    unit: str | None
    entity_id: EntityId
    metadata: dict[str, str]
    created_at: Timestamp
    updated_at: Timestamp


AnyResource = Entity | Customer | Tax | Item
