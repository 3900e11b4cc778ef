"""Resource <-> stored document mapping.

Stored documents are the public resource plus a few internal fields, all prefixed with ``_``:
``_id`` (the public ``id``), ``_search`` (text searched by ``search``), ``_idem`` (the
idempotency key of the command that created it) and ``_events``/``_pending`` (the outbox).
Money is Decimal128 so range queries compare numbers exactly; dates are BSON UTC datetimes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from bson import Decimal128
from pydantic import BaseModel

from invoicebus_contracts import Customer, Entity, Item, Resource, Tax

from ...querying.fields import FIELDS
from .client import Document

R = TypeVar("R", bound=BaseModel)

MODELS: dict[Resource, type[BaseModel]] = {
    Resource.ENTITY: Entity,
    Resource.CUSTOMER: Customer,
    Resource.TAX: Tax,
    Resource.ITEM: Item,
}
_DERIVED = {"vies"}  # constant fields of the shape, not stored


def _to_bson(value: Any) -> Any:
    if isinstance(value, Decimal):
        return Decimal128(value)
    if isinstance(value, dict):
        return {k: _to_bson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_bson(v) for v in value]
    return value


def _from_bson(value: Any) -> Any:
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, list):
        return [_from_bson(v) for v in value]
    return value


def search_terms(resource: Resource, model: BaseModel) -> list[str]:
    """Every text value ``search`` looks at: the resource's text fields and metadata values."""
    data = model.model_dump()
    terms = [data[f] for f in FIELDS[resource].searchable if data.get(f)]
    terms.extend(v for v in data.get("metadata", {}).values() if v)
    return terms


def to_document(resource: Resource, model: BaseModel) -> Document:
    data = model.model_dump(exclude=_DERIVED)
    doc: Document = {"_id": data.pop("id"), **_to_bson(data)}
    doc["_search"] = search_terms(resource, model)
    return doc


def to_resource(resource: Resource, doc: Document) -> BaseModel:
    public = {k: _from_bson(v) for k, v in doc.items() if not k.startswith("_")}
    return MODELS[resource].model_validate({"id": doc["_id"], **public})
