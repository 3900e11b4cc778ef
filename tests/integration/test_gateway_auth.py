"""API keys over HTTP with ``INVOICEBUS_AUTH=required``: the gateway has a broker user of its
own (listed in ``INVOICEBUS_GATEWAYS``, its permissions printed by ``invoicebus access
broker-permissions``), in a virtual host of this test's own; the services resolve the key hash
it forwards. No key, an unknown one or a revoked one is 401; tenant bob's key never reaches
tenant alice's entity: 404, worded exactly as for an entity that does not exist.
``REACHED`` counts, per attack, alice's rows bob got: every count must be 0."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from invoicebus_contracts import ErrorBody
from tests.support.backends import Backends
from tests.support.brokerusers import BrokerUsers, broker_users, rabbitmqctl, run_lines
from tests.support.gateway import System, system

INVOICEBUS = str(Path(sys.executable).with_name("invoicebus"))
RUN = uuid.uuid4().hex[:8]
PREFIX = f"ibgwauth-{RUN}"
SERVICES, OPS, GATEWAY = (f"ibgwauth-{RUN}-{n}" for n in ("svc", "ops", "gw"))
ALICE, BOB = "alice", "bob"
MISSING = "ent_" + "f" * 24
REACHED: dict[str, int] = {}


@dataclass
class World:
    running: System
    users: BrokerUsers
    mongodb_url: str
    keys: dict[str, dict[str, Any]]  # principal -> the key as `keys create` printed it
    entities: dict[str, str]  # principal -> its entity
    alice_rows: set[str]

    def bearer(self, principal: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[principal]['key']}"}


async def cli(users: BrokerUsers, mongodb_url: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICEBUS_")}
    env.update(
        AMQP_URL=users.url(OPS),
        MONGODB_URL=mongodb_url,
        INVOICEBUS_PREFIX=PREFIX,
        INVOICEBUS_DATABASE=PREFIX.replace("-", "_"),
        INVOICEBUS_ADMINS=OPS,
    )
    process = await asyncio.create_subprocess_exec(
        INVOICEBUS, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


@pytest.fixture(scope="module")
async def world(
    servers: Backends, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    async with broker_users(f"ibgwauth-{RUN}", servers.amqp_url) as users:
        for user in (SERVICES, OPS, GATEWAY):
            await users.add(user)
        await rabbitmqctl("set_permissions", "-p", users.vhost, SERVICES, ".*", ".*", ".*")
        env = {
            "INVOICEBUS_AUTH": "required",
            "INVOICEBUS_ADMINS": OPS,
            "INVOICEBUS_GATEWAYS": GATEWAY,
            "INVOICEBUS_GRANT_CACHE_SECONDS": "0",  # a revoke counts at once
        }
        lines = await cli(
            users, servers.mongodb_url, "access", "broker-permissions",
            "--principal", GATEWAY, "--vhost", users.vhost,
        )  # fmt: skip
        assert await run_lines(lines) == 2
        async with system(
            servers,
            tmp_path_factory.mktemp("gateway-auth"),
            PREFIX,
            env=env,
            amqp_url=users.url(SERVICES),
            gateway_url=users.url(GATEWAY),
        ) as running:
            keys = {
                p: json.loads(
                    await cli(users, servers.mongodb_url, "keys", "create", "--principal", p)
                )
                for p in (ALICE, BOB)
            }
            world = World(running, users, servers.mongodb_url, keys, {}, set())
            async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
                for principal in (ALICE, BOB):
                    made = await http.post(
                        "/entities", json={"name": principal}, headers=world.bearer(principal)
                    )
                    assert made.status_code == 201, made.text
                    world.entities[principal] = made.json()["id"]
                headers = {**world.bearer(ALICE), "x-entity-id": world.entities[ALICE]}
                customer = await http.post("/customers", json={"name": "Alice's"}, headers=headers)
                assert customer.status_code == 201, customer.text
            world.alice_rows = {world.entities[ALICE], customer.json()["id"]}
            yield world
    print(f"\nHTTP attacks on tenant alice ({len(REACHED)}), her rows reached: {REACHED}")
    assert REACHED and not any(REACHED.values()), REACHED


@pytest.fixture
async def http(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=world.running.url, timeout=30) as client:
        yield client


def unauthenticated(response: httpx.Response) -> bool:
    return (
        response.status_code == 401
        and ErrorBody.model_validate(response.json()).error.code == "unauthenticated"
        and response.headers["www-authenticate"].startswith("Bearer")
    )


async def test_without_a_valid_key_every_operation_is_401(
    world: World, http: httpx.AsyncClient
) -> None:
    entity = {"x-entity-id": world.entities[ALICE]}
    for headers in (
        {},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": f"Basic {world.keys[ALICE]['key']}"},
        {"Authorization": "Bearer"},
    ):
        for method, path, payload in (
            ("POST", "/customers", {"name": "x"}),
            ("GET", "/customers", None),
            ("POST", "/entities", {"name": "x"}),
            ("GET", "/entities", None),
        ):
            response = await http.request(method, path, headers={**entity, **headers}, json=payload)
            assert unauthenticated(response), (headers, path, response.text)
            REACHED["no valid key"] = REACHED.get("no valid key", 0) + sum(
                row in response.text for row in world.alice_rows - {world.entities[ALICE]}
            )


async def test_bob_s_key_never_reaches_alice_s_entity(
    world: World, http: httpx.AsyncClient
) -> None:
    bob = world.bearer(BOB)
    alice_entity = world.entities[ALICE]
    for method, path, kwargs in (
        ("POST", "/customers", {"json": {"name": "mallory"}}),
        ("GET", "/customers", {}),
        ("POST", "/items", {"json": {"name": "m", "price": 1}}),
        ("GET", "/items", {}),
    ):
        theirs = await http.request(
            method, path, headers={**bob, "x-entity-id": alice_entity}, **kwargs
        )
        missing = await http.request(
            method, path, headers={**bob, "x-entity-id": MISSING}, **kwargs
        )
        assert theirs.status_code == missing.status_code == 404, theirs.text
        # No oracle: "not yours" reads exactly as "does not exist".
        assert theirs.text.replace(alice_entity, MISSING) == missing.text
        REACHED[f"{method} {path} naming alice's entity"] = sum(
            row in theirs.text for row in world.alice_rows - {alice_entity}
        )
    own = await http.get("/customers", params={"limit": 100}, headers=bob)
    assert own.status_code == 200 and own.json()["data"] == []
    entities = await http.get("/entities", params={"limit": 100}, headers=bob)
    assert [e["id"] for e in entities.json()["data"]] == [world.entities[BOB]]
    REACHED["bob's own lists"] = sum(row in own.text + entities.text for row in world.alice_rows)


async def test_alice_s_key_acts_for_her_until_it_is_revoked(
    world: World, http: httpx.AsyncClient
) -> None:
    extra = json.loads(
        await cli(world.users, world.mongodb_url, "keys", "create", "--principal", ALICE)
    )
    headers = {"Authorization": f"Bearer {extra['key']}"}  # her default entity: her only one
    listed = await http.get("/customers", headers=headers)
    assert listed.status_code == 200, listed.text
    assert [c["name"] for c in listed.json()["data"]] == ["Alice's"]
    await cli(world.users, world.mongodb_url, "keys", "revoke", "--prefix", extra["prefix"])
    assert unauthenticated(await http.get("/customers", headers=headers))
    # Her other key still works: a revoke is of one key.
    assert (await http.get("/customers", headers=world.bearer(ALICE))).status_code == 200
