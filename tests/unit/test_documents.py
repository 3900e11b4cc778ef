"""Resource <-> stored document mapping: exact money, internal fields hidden, search terms."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from bson import Decimal128

from invoicebus.adapters.mongo.documents import to_document, to_resource
from invoicebus_contracts import Customer, Item, Resource

NOW = datetime(2024, 1, 1, tzinfo=UTC)
ENTITY = "ent_" + "1" * 24


def item() -> Item:
    return Item(
        id="item_" + "2" * 24, name="Consulting", description="Hourly", price=Decimal("10.05"),
        gross_price=None, total_tax=Decimal("2.21"), tax_ids=["tax_" + "3" * 24], unit="hour",
        entity_id=ENTITY, metadata={"category": "services"}, created_at=NOW, updated_at=NOW,
    )  # fmt: skip


def test_money_is_stored_as_decimal128_and_read_back_exactly() -> None:
    doc = to_document(Resource.ITEM, item())
    assert doc["_id"] == "item_" + "2" * 24
    assert "id" not in doc
    assert doc["price"] == Decimal128("10.05")
    assert doc["total_tax"] == Decimal128("2.21")
    assert to_resource(Resource.ITEM, doc) == item()


def test_search_terms_cover_text_fields_and_metadata_values() -> None:
    doc = to_document(Resource.ITEM, item())
    assert doc["_search"] == ["Consulting", "Hourly", "hour", "services"]


def test_internal_fields_never_reach_the_resource() -> None:
    customer = Customer(
        id="cust_" + "4" * 24, name="Acme", email=None, address=None, address_2=None,
        post_code=None, city=None, state=None, country=None, country_code=None, tax_number=None,
        entity_id=ENTITY, metadata={}, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    doc = to_document(Resource.CUSTOMER, customer)
    assert "vies" not in doc  # derived, never stored
    doc.update({"_pending": True, "_event": {"id": "evt"}, "_idem": {"key": "k"}})
    restored = to_resource(Resource.CUSTOMER, doc)
    assert restored == customer
    assert restored.model_dump()["vies"] is None
