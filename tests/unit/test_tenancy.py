"""Which entity a message acts on, for whom (tenancy.py), with the lookups faked."""

from __future__ import annotations

import pytest

from invoicebus.domain.errors import DomainError
from invoicebus.tenancy import Caller, Tenancy, unrestricted
from invoicebus_contracts import ErrorCode, Resource
from tests.support.memory import MemoryEntities

FIRST = "ent_" + "1" * 24
SECOND = "ent_" + "2" * 24
THIRD = "ent_" + "3" * 24
ANYONE = unrestricted(None)
ALICE = Caller("alice", unrestricted=False)


def two_tenants() -> MemoryEntities:
    """FIRST is bob's, SECOND and THIRD are alice's."""
    entities = MemoryEntities()
    entities.add(FIRST, "bob")
    entities.add(SECOND, "alice")
    entities.add(THIRD, "alice", "bob")
    return entities


async def not_found(tenancy: Tenancy, header: str | None, caller: Caller = ANYONE) -> DomainError:
    with pytest.raises(DomainError) as info:
        await tenancy.entity_for(Resource.CUSTOMER, header, caller)
    assert info.value.code is ErrorCode.ENTITY_NOT_FOUND
    assert info.value.loc == ["x-entity-id"]
    return info.value


async def test_the_header_names_the_entity() -> None:
    tenancy = Tenancy(MemoryEntities(FIRST, SECOND))
    assert await tenancy.entity_for(Resource.ITEM, SECOND, ANYONE) == SECOND


async def test_without_a_header_the_first_entity_found_is_remembered() -> None:
    entities = MemoryEntities(FIRST, SECOND)
    tenancy = Tenancy(entities)
    assert await tenancy.entity_for(Resource.TAX, None, ANYONE) == FIRST
    assert await tenancy.entity_for(Resource.TAX, None, ANYONE) == FIRST
    assert entities.lookups == ["first"]


@pytest.mark.parametrize(
    "header", ["", " ", "0", "<boolean false>", "<array>", "<table>", "<void>", FIRST + "\n"]
)
async def test_a_header_that_is_present_but_no_entity_id_never_means_the_default(
    header: str,
) -> None:
    """Only an absent header (None) means the default; blank or odd values are refused, for an
    admin as for a tenant, without a look-up."""
    entities = two_tenants()
    for caller in (ANYONE, ALICE):
        error = await not_found(Tenancy(entities), header, caller)
        assert "must be an entity id" in error.message
    assert entities.lookups == []


async def test_an_unknown_or_malformed_header_never_falls_back() -> None:
    entities = MemoryEntities(FIRST)
    error = await not_found(Tenancy(entities), SECOND)
    assert SECOND in error.message
    await not_found(Tenancy(entities), "ent_nope' || 1==1")
    assert entities.lookups == [SECOND]  # a malformed id is not even looked up


async def test_before_the_first_entity_nothing_resolves() -> None:
    error = await not_found(Tenancy(MemoryEntities()), None)
    assert "create one first" in error.message


async def test_entities_themselves_act_on_no_entity() -> None:
    entities = MemoryEntities()
    assert await Tenancy(entities).entity_for(Resource.ENTITY, SECOND, ALICE) is None
    assert entities.lookups == []


async def test_a_restricted_caller_acts_on_its_granted_entities_only() -> None:
    tenancy = Tenancy(two_tenants())
    assert await tenancy.entity_for(Resource.CUSTOMER, THIRD, ALICE) == THIRD
    assert await tenancy.entity_for(Resource.CUSTOMER, None, ALICE) == SECOND  # first granted
    bob = Caller("bob", unrestricted=False)
    assert await tenancy.entity_for(Resource.CUSTOMER, None, bob) == FIRST


async def test_another_tenant_s_entity_is_refused_exactly_like_a_missing_one() -> None:
    tenancy = Tenancy(two_tenants())
    missing = "ent_" + "9" * 24
    not_granted = await not_found(tenancy, FIRST, ALICE)
    absent = await not_found(tenancy, missing, ALICE)
    assert not_granted.message == absent.message.replace(missing, FIRST)
    assert not_granted.to_body().model_dump()["error"]["type"] == "invalid_request_error"


async def test_a_principal_without_grants_has_no_default_entity() -> None:
    error = await not_found(Tenancy(two_tenants()), None, Caller("carol", unrestricted=False))
    assert "'carol'" in error.message and "create one first" in error.message


async def test_grants_are_cached_for_a_while_and_refusals_not_at_all() -> None:
    entities = two_tenants()
    now = [0.0]
    tenancy = Tenancy(entities, cache_seconds=5, timer=lambda: now[0])
    assert await tenancy.resolve(SECOND, ALICE) == SECOND
    entities.grants[SECOND].discard("alice")  # revoked
    assert await tenancy.resolve(SECOND, ALICE) == SECOND  # still cached
    now[0] = 5.1
    await not_found(tenancy, SECOND, ALICE)  # the revoke has reached this replica

    await not_found(tenancy, FIRST, ALICE)
    entities.grants[FIRST].add("alice")  # granted: works at once, nothing negative was kept
    assert await tenancy.resolve(FIRST, ALICE) == FIRST


async def test_with_no_cache_every_message_looks_the_grant_up() -> None:
    entities = two_tenants()
    tenancy = Tenancy(entities, cache_seconds=0)
    for _ in range(3):
        assert await tenancy.resolve(SECOND, ALICE) == SECOND
    assert entities.lookups.count(f"alice on {SECOND}") == 3
