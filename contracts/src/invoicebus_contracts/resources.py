"""Resources as they travel in replies, events and list pages.

Every documented field is present (null when unset) and fields are declared in the order of
the API references' examples, so a reply reads like the documentation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, Field

from .fields import Amount, Timestamp
from .topology import Resource


def _id(resource: Resource) -> object:
    return Field(pattern=resource.id_pattern)


#: The pattern every ``x-entity-id`` header and ``entity_id`` field must match.
ENTITY_ID_PATTERN = Resource.ENTITY.id_pattern
EntityId = Annotated[str, _id(Resource.ENTITY)]


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
    id: Annotated[str, _id(Resource.CUSTOMER)]
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
    id: Annotated[str, _id(Resource.TAX)]
    name: str | None
    rate: Amount
    classification: str | None
    entity_id: EntityId
    created_at: Timestamp
    updated_at: Timestamp


class Item(BaseModel):
    id: Annotated[str, _id(Resource.ITEM)]
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


#: The model of each resource, as it travels in replies, events and list pages.
RESOURCE_MODELS: Mapping[Resource, type[Entity | Customer | Tax | Item]] = {
    Resource.ENTITY: Entity,
    Resource.CUSTOMER: Customer,
    Resource.TAX: Tax,
    Resource.ITEM: Item,
}
