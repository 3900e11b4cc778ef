"""The catalog rules (commands/catalog.py) with storage faked in memory: how an item finds its
taxes by rate, classification and id, when a tax is created for it, and what is refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from invoicebus.commands.catalog import create_item, create_tax, new_tax
from invoicebus.commands.context import CommandContext, Outcome
from invoicebus.domain.errors import DomainError
from invoicebus.domain.records import Record
from invoicebus_contracts import CreateItem, CreateTax, ErrorCode, Resource, Tax
from tests.support.memory import MemoryStore, acting

ENTITY = "ent_" + "e" * 24
OTHER = "ent_" + "f" * 24


def stored_tax(
    store: MemoryStore, rate: str, classification: str | None = None, *, entity: str = ENTITY
) -> Record[Tax]:
    """A tax stored earlier, its event long published."""
    ctx = CommandContext.of(Resource.TAX, CreateTax(rate=Decimal(rate)), acting(entity), None)
    tax = ctx.record(Resource.TAX, new_tax(entity, Decimal(rate), classification=classification))
    tax.pending = False
    store.records.append(tax)
    return tax


async def item(store: MemoryStore, message_id: str | None = None, **body: Any) -> Outcome:
    command = CreateItem.model_validate({"name": "Cortado", "price": 100, **body})
    ctx = CommandContext.of(Resource.ITEM, command, acting(ENTITY), message_id)
    return await create_item(command, ctx, store)


async def refused(store: MemoryStore, **body: Any) -> DomainError:
    with pytest.raises(DomainError) as info:
        await item(store, **body)
    return info.value


async def test_a_rate_reuses_the_entitys_oldest_tax_with_that_rate() -> None:
    store = MemoryStore()
    oldest = stored_tax(store, "22")
    stored_tax(store, "22.0")  # the same rate, written differently, stored later
    stored_tax(store, "22", entity=OTHER)
    outcome = await item(store, taxes=[{"rate": Decimal("22.00")}])
    assert outcome.record.model.tax_ids == [oldest.id]
    assert outcome.record.model.total_tax == Decimal("22.00")
    assert outcome.side_effects == []  # its event went out long ago
    assert len(store.of(Resource.TAX)) == 3


async def test_a_new_rate_creates_one_tax_announced_before_the_item() -> None:
    store = MemoryStore()
    outcome = await item(store, "m-1", taxes=[{"rate": 9.5}])
    [tax] = store.of(Resource.TAX)
    assert tax.model.rate == Decimal("9.5") and tax.model.classification is None
    assert outcome.record.model.tax_ids == [tax.id]
    assert outcome.side_effects == [tax] and tax.pending
    assert tax.event.correlation_id == "m-1"  # caused by the item's command
    assert outcome.record.model.total_tax == Decimal("9.50")


async def test_classifications_and_ids_name_existing_taxes() -> None:
    store = MemoryStore()
    standard = stored_tax(store, "22", "standard")
    reduced = stored_tax(store, "9.5", "reduced")
    outcome = await item(store, taxes=[{"classification": "standard"}], tax_ids=[reduced.id])
    assert outcome.record.model.tax_ids == [standard.id, reduced.id]
    assert outcome.record.model.total_tax == Decimal("31.50")


async def test_an_unknown_classification_is_refused_and_nothing_is_created() -> None:
    store = MemoryStore()
    error = await refused(store, taxes=[{"rate": 5}, {"classification": "luxury"}])
    assert error.code is ErrorCode.TAX_NOT_FOUND
    assert error.loc == ["taxes", 1, "classification"]
    assert store.records == []  # the rate's tax was not created for a refused item


async def test_another_entitys_tax_id_is_not_found() -> None:
    store = MemoryStore()
    foreign = stored_tax(store, "22", entity=OTHER)
    error = await refused(store, tax_ids=[foreign.id])
    assert error.code is ErrorCode.TAX_NOT_FOUND
    assert error.loc == ["tax_ids", 0]


async def test_the_same_tax_named_twice_is_refused_where_it_is_named_again() -> None:
    store = MemoryStore()
    tax = stored_tax(store, "22", "standard")
    error = await refused(store, taxes=[{"rate": 22}, {"classification": "standard"}])
    assert error.code is ErrorCode.VALIDATION_ERROR
    assert error.loc == ["taxes", 1, "classification"]
    assert f"names tax {tax.id}, already named by taxes.0.rate" in error.message
    error = await refused(store, taxes=[{"classification": "standard"}], tax_ids=[tax.id])
    assert error.loc == ["tax_ids", 0]


async def test_a_tax_still_unannounced_goes_out_with_the_item_that_reuses_it() -> None:
    store = MemoryStore()
    orphan = stored_tax(store, "17")
    orphan.pending = True  # its command died before publishing
    outcome = await item(store, taxes=[{"rate": 17}])
    assert outcome.side_effects == [orphan]


async def test_a_repeated_item_command_answers_the_original_without_redoing_anything() -> None:
    store = MemoryStore()
    first = await item(store, "m-1", taxes=[{"rate": 13}])
    again = await item(store, "m-1", taxes=[{"rate": 13}])
    assert again.record is first.record
    assert again.side_effects == first.side_effects  # the tax is still unannounced
    assert len(store.records) == 2  # one tax, one item
    with pytest.raises(DomainError) as info:
        await item(store, "m-1", taxes=[{"rate": 14}])
    assert info.value.code is ErrorCode.IDEMPOTENCY_CONFLICT


async def test_a_tax_command_stores_its_canonical_rate_under_its_key() -> None:
    store = MemoryStore()
    command = CreateTax(rate=Decimal("22.50"), classification="standard")
    ctx = CommandContext.of(Resource.TAX, command, acting(ENTITY), "m-9")
    outcome = await create_tax(command, ctx, store)
    assert str(outcome.record.model.rate) == "22.5"
    assert ctx.key is not None
    assert await store.find_original(Resource.TAX, ENTITY, ctx.key) is outcome.record
