"""What each resource lets a client filter, sort and search on (the contract's allowed fields)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, Inexact, InvalidOperation, Overflow
from enum import StrEnum
from typing import Any

from invoicebus_contracts import Resource


class Kind(StrEnum):
    ID = "id"
    STRING = "string"
    NUMBER = "number"  # stored as a decimal128 (see ``stored_number``), compared numerically
    DATE = "date"  # stored as BSON UTC datetime


@dataclass(frozen=True)
class ResourceFields:
    #: field name -> its kind; these are the fields ``query`` and ``order_by`` accept.
    queryable: dict[str, Kind]
    #: text fields matched by ``search`` (metadata values are always searched too).
    searchable: tuple[str, ...]
    #: whether it carries ``metadata`` (queried as ``metadata.<key>``, string values).
    metadata: bool = True

    @property
    def sortable(self) -> tuple[str, ...]:
        return tuple(self.queryable)


_PARTY_TEXT = (
    "name", "email", "address", "address_2", "post_code", "city", "state", "country",
    "country_code", "tax_number",
)  # fmt: skip

FIELDS: dict[Resource, ResourceFields] = {
    Resource.ENTITY: ResourceFields(
        queryable={"id": Kind.ID, "name": Kind.STRING, "created_at": Kind.DATE},
        searchable=_PARTY_TEXT,
    ),
    Resource.CUSTOMER: ResourceFields(
        queryable={
            "id": Kind.ID,
            "name": Kind.STRING,
            "address": Kind.STRING,
            "city": Kind.STRING,
            "country": Kind.STRING,
            "tax_number": Kind.STRING,
            "email": Kind.STRING,
            "created_at": Kind.DATE,
            "updated_at": Kind.DATE,
        },
        searchable=_PARTY_TEXT,
    ),
    Resource.TAX: ResourceFields(
        queryable={
            "id": Kind.ID,
            "name": Kind.STRING,
            "rate": Kind.NUMBER,
            "classification": Kind.STRING,
            "created_at": Kind.DATE,
        },
        searchable=("name", "classification"),
        metadata=False,
    ),
    Resource.ITEM: ResourceFields(
        queryable={
            "id": Kind.ID,
            "name": Kind.STRING,
            "description": Kind.STRING,
            "price": Kind.NUMBER,
            "unit": Kind.STRING,
            "created_at": Kind.DATE,
            "updated_at": Kind.DATE,
        },
        searchable=("name", "description", "unit"),
    ),
}


#: A stored document: the resource's fields under their public names (``id`` excepted, see
#: ``storage_path``) plus internal ones whose names start with ``_``.
Document = dict[str, Any]

#: The stored array of a document's searchable text (written by adapters/mongo/documents.py).
SEARCH_PATH = "_search"
#: The stored array of the principals granted an entity (written by adapters/mongo/grants.py).
GRANTS_PATH = "_grants"


def storage_path(field: str) -> str:
    """The document path of a public field: ``id`` is the document's ``_id``."""
    return "_id" if field == "id" else field


def public_fields(doc: Document) -> dict[str, Any]:
    """A stored document's resource fields under their public names, internal ones left out."""
    fields = {k: v for k, v in doc.items() if not k.startswith("_")}
    return {"id": doc[storage_path("id")], **fields}


# Numbers are stored as IEEE 754 decimal128 (BSON Decimal128): 34 significant digits and
# exponents from -6143 to 6144, never rounded. This is that format's context (as PyMongo's).
_DECIMAL128 = Context(
    prec=34,
    rounding=ROUND_HALF_EVEN,
    Emin=-6143,
    Emax=6144,
    clamp=1,
    traps=[InvalidOperation, Overflow, Inexact],
)


def stored_number(value: Decimal) -> Decimal:
    """``value`` as a decimal128 holds it exactly; ``ArithmeticError`` if it can't."""
    return _DECIMAL128.create_decimal(value)
