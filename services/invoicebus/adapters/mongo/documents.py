"""Resource <-> stored document mapping, and the BSON values in between.

A stored document is the public resource with ``_id`` for its ``id``, plus internal fields whose
names start with ``_``: ``_search`` (the text ``search`` matches, written here), the outbox and
idempotency fields ``_event``, ``_pending`` and ``_idem`` (``outbox.py``), ``_auto_rate`` on
auto-created taxes (``taxes.py``) and ``_grants`` on entities (``grants.py``). Money is
Decimal128 so range queries compare numbers exactly; dates are BSON UTC datetimes. Everything
above this adapter sees plain Python values (``Decimal``), converted here on the way in and out.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bson import Decimal128
from pydantic import BaseModel

from invoicebus_contracts import RESOURCE_MODELS, Customer, Entity, Item, Resource, Tax

from ...querying.fields import FIELDS, SEARCH_PATH, Document, public_fields, storage_path

_DERIVED = {"vies"}  # constant fields of the shape, not stored
#: What a read that only wants the resource leaves out (the search terms).
HIDDEN: dict[str, int] = {SEARCH_PATH: 0}


def to_bson(value: Any) -> Any:
    """Plain values (a filter, a document) as stored: ``Decimal`` becomes Decimal128."""
    if isinstance(value, Decimal):
        return Decimal128(value)
    if isinstance(value, dict):
        return {k: to_bson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_bson(v) for v in value]
    return value


def from_bson(value: Any) -> Any:
    """Stored values as plain ones: Decimal128 becomes ``Decimal``."""
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, dict):
        return {k: from_bson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_bson(v) for v in value]
    return value


def search_terms(resource: Resource, model: BaseModel) -> list[str]:
    """Every text value ``search`` looks at: the resource's text fields and metadata values."""
    data = model.model_dump()
    terms = [data[f] for f in FIELDS[resource].searchable if data.get(f)]
    terms.extend(v for v in data.get("metadata", {}).values() if v)
    return terms


def to_document(resource: Resource, model: BaseModel) -> Document:
    data = model.model_dump(exclude=_DERIVED)
    doc: Document = {storage_path("id"): data.pop("id"), **to_bson(data)}
    doc[SEARCH_PATH] = search_terms(resource, model)
    return doc


def to_resource(resource: Resource, doc: Document) -> Entity | Customer | Tax | Item:
    return RESOURCE_MODELS[resource].model_validate(from_bson(public_fields(doc)))
