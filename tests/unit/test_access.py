"""Who is acting (access.py): the user_id, admins, gateways and their API keys."""

from __future__ import annotations

import hashlib

import pytest

from invoicebus.access import Access, Policy
from invoicebus.domain.errors import DomainError
from invoicebus.messaging import Envelope
from invoicebus.settings import AuthMode, Settings
from invoicebus.tenancy import Tenancy
from invoicebus_contracts import ErrorCode, Resource
from tests.support.memory import MemoryEntities, MemoryKeys

ACME = "ent_" + "a" * 24
GLOBEX = "ent_" + "b" * 24
KEY = hashlib.sha256(b"ibk_alice").hexdigest()
REQUIRED = Policy(AuthMode.REQUIRED, admins=frozenset({"ops"}), gateways=frozenset({"gw"}))


def access(policy: Policy = REQUIRED, keys: MemoryKeys | None = None) -> Access:
    entities = MemoryEntities()
    entities.add(ACME, "alice")
    entities.add(GLOBEX, "bob")
    return Access(policy, Tenancy(entities), keys or MemoryKeys(**{KEY: "alice"}))


def envelope(user_id: str | None, entity: str | None = None, key: object = None) -> Envelope:
    headers = {} if key is None else {"x-invoicebus-key-sha256": key}
    return Envelope("customer.list", b"{}", entity_id=entity, user_id=user_id, headers=headers)


async def refused(access: Access, message: Envelope) -> DomainError:
    with pytest.raises(DomainError) as info:
        await access.resolve(Resource.CUSTOMER, message)
    return info.value


async def test_required_refuses_a_message_without_user_id_as_unauthenticated() -> None:
    error = await refused(access(), envelope(None, ACME))
    assert error.code is ErrorCode.UNAUTHENTICATED and error.code.status == 401
    assert error.loc == ["user_id"]


async def test_the_user_id_is_the_principal_and_acts_on_its_grants() -> None:
    acting = await access().resolve(Resource.CUSTOMER, envelope("alice"))
    assert (acting.caller.principal, acting.entity_id) == ("alice", ACME)
    assert (await refused(access(), envelope("alice", GLOBEX))).code is ErrorCode.ENTITY_NOT_FOUND


async def test_an_admin_acts_on_every_entity_and_lists_them_all() -> None:
    acting = await access().resolve(Resource.CUSTOMER, envelope("ops", GLOBEX))
    assert acting.entity_id == GLOBEX and acting.caller.list_scope is None
    restricted = await access().resolve(Resource.ENTITY, envelope("alice"))
    assert restricted.entity_id is None and restricted.caller.list_scope == "alice"


async def test_a_gateway_acts_as_the_principal_of_the_key_it_forwards() -> None:
    acting = await access().resolve(Resource.CUSTOMER, envelope("gw", key=KEY.encode()))
    assert (acting.caller.principal, acting.entity_id) == ("alice", ACME)


@pytest.mark.parametrize("key", [None, "", "f" * 64, "not hex", KEY.upper()])
async def test_a_gateway_without_a_known_key_is_unauthenticated(key: str | None) -> None:
    error = await refused(access(), envelope("gw", key=key))
    assert error.code is ErrorCode.UNAUTHENTICATED
    assert error.loc == ["x-invoicebus-key-sha256"]


async def test_only_a_gateway_s_key_header_counts() -> None:
    # bob claims alice's key: ignored, bob acts as bob and alice's entity stays out of reach.
    message = envelope("bob", ACME, key=KEY)
    assert (await refused(access(), message)).code is ErrorCode.ENTITY_NOT_FOUND


async def test_a_revoked_key_stops_working_within_the_cache_time() -> None:
    keys = MemoryKeys(**{KEY: "alice"})
    now = [0.0]
    gate = Access(REQUIRED, Tenancy(MemoryEntities(ACME)), keys, timer=lambda: now[0])
    message = envelope("gw", ACME, key=KEY)
    await gate.caller(message)
    keys.principals.clear()
    assert (await gate.caller(message)).principal == "alice"  # cached
    now[0] = REQUIRED.cache_seconds + 0.1
    with pytest.raises(DomainError):
        await gate.caller(message)


async def test_off_lets_anyone_act_on_every_entity() -> None:
    gate = access(Policy(AuthMode.OFF))
    for user in (None, "bob"):
        acting = await gate.resolve(Resource.CUSTOMER, envelope(user, ACME))
        assert acting.entity_id == ACME and acting.caller.unrestricted


def test_the_policy_comes_from_the_settings() -> None:
    settings = Settings(auth="required", admins="ops, root", gateways="gw", grant_cache_seconds=2)
    policy = Policy.of(settings)
    assert policy == Policy(AuthMode.REQUIRED, frozenset({"ops", "root"}), frozenset({"gw"}), 2)
    assert Settings().auth is AuthMode.REQUIRED  # safe by default
