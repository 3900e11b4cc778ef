"""Which entity a message acts on (tenancy.py), with the entity lookups faked."""

from __future__ import annotations

import pytest

from invoicebus.domain.errors import DomainError
from invoicebus.tenancy import Tenancy
from invoicebus_contracts import ErrorCode, Resource

FIRST = "ent_" + "1" * 24
SECOND = "ent_" + "2" * 24


class Entities:
    def __init__(self, *ids: str) -> None:
        self.ids = list(ids)
        self.first_lookups = 0
        self.asked: list[str] = []

    async def first_entity_id(self) -> str | None:
        self.first_lookups += 1
        return self.ids[0] if self.ids else None

    async def entity_exists(self, entity_id: str) -> bool:
        self.asked.append(entity_id)
        return entity_id in self.ids


async def not_found(tenancy: Tenancy, header: str | None) -> DomainError:
    with pytest.raises(DomainError) as info:
        await tenancy.entity_for(Resource.CUSTOMER, header)
    assert info.value.code is ErrorCode.ENTITY_NOT_FOUND
    assert info.value.loc == ["x-entity-id"]
    return info.value


async def test_the_header_names_the_entity() -> None:
    assert await Tenancy(Entities(FIRST, SECOND)).entity_for(Resource.ITEM, SECOND) == SECOND


async def test_without_a_header_the_first_entity_found_is_remembered() -> None:
    entities = Entities(FIRST, SECOND)
    tenancy = Tenancy(entities)
    assert await tenancy.entity_for(Resource.TAX, None) == FIRST
    assert await tenancy.entity_for(Resource.TAX, "") == FIRST
    assert entities.first_lookups == 1


async def test_an_unknown_or_malformed_header_never_falls_back() -> None:
    entities = Entities(FIRST)
    error = await not_found(Tenancy(entities), SECOND)
    assert SECOND in error.message
    await not_found(Tenancy(entities), "ent_nope' || 1==1")
    assert entities.asked == [SECOND]  # a malformed id is not even looked up


async def test_before_the_first_entity_nothing_resolves() -> None:
    error = await not_found(Tenancy(Entities()), None)
    assert "create one first" in error.message


async def test_entities_themselves_act_on_no_entity() -> None:
    entities = Entities()
    assert await Tenancy(entities).entity_for(Resource.ENTITY, SECOND) is None
    assert entities.asked == [] and entities.first_lookups == 0
