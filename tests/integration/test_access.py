"""Tenant isolation end to end, over the real broker: users of a virtual host of this test's
own (two tenants, an admin, a gateway, the services' user), the services running in this
process with ``INVOICEBUS_AUTH=required``, their broker permissions set from the lines
``invoicebus access broker-permissions`` prints, and every way tenant bob might reach tenant
alice's rows. ``REACHED`` counts, per attack, alice's rows bob got: every count must be 0."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractConnection

from invoicebus.adapters.mongo.client import connect
from invoicebus.settings import AuthMode, Settings
from invoicebus_client import InvoicebusClient
from invoicebus_contracts import Resource, Topology
from tests.support.amqp import RawClient, Reply
from tests.support.backends import Backends
from tests.support.brokerusers import BrokerUsers, broker_users, rabbitmqctl, run_lines

INVOICEBUS = str(Path(sys.executable).with_name("invoicebus"))
RUN = uuid.uuid4().hex[:8]
PREFIX = "ibauth"
TOPOLOGY = Topology(PREFIX)
SERVICES, ALICE, BOB, OPS, GATEWAY = (
    f"ibauth-{RUN}-{n}" for n in ("svc", "alice", "bob", "ops", "gw")
)
MISSING = "ent_" + "f" * 24
#: attack -> rows (or events) of alice's that bob reached.
REACHED: dict[str, int] = {}


@dataclass
class World:
    users: BrokerUsers
    settings: Settings
    clients: dict[str, RawClient] = field(default_factory=dict)
    entities: dict[str, str] = field(default_factory=dict)  # principal -> its entity
    alice_ids: set[str] = field(default_factory=set)  # every id of alice's rows

    async def cli(self, *args: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICEBUS_")}
        env.update(
            AMQP_URL=self.users.url(OPS),
            MONGODB_URL=self.settings.mongodb_url or "",
            INVOICEBUS_PREFIX=PREFIX,
            INVOICEBUS_DATABASE=self.settings.database,
            INVOICEBUS_ADMINS=OPS,
        )
        process = await asyncio.create_subprocess_exec(
            INVOICEBUS,
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        return out.decode()

    async def permit(self, principal: str) -> None:
        """Set the principal's broker permissions from its grants, as the README says."""
        lines = await self.cli(
            "access", "broker-permissions", "--principal", principal, "--vhost", self.users.vhost
        )
        assert await run_lines(lines) == 2

    def reached(self, attack: str, found: Any, *, named: str = "") -> None:
        """Record how many of alice's ids appear anywhere in ``found``, but for the one bob
        ``named`` himself (a refusal may quote it back)."""
        text = json.dumps(found, default=str)
        ids = self.alice_ids - {named}
        REACHED[attack] = REACHED.get(attack, 0) + sum(i in text for i in ids)


@pytest.fixture(scope="module")
async def world(servers: Backends) -> AsyncIterator[World]:
    from invoicebus.commands.app import create_app as create_commands
    from invoicebus.queries.app import create_app as create_queries

    async with broker_users(f"ibauth-{RUN}", servers.amqp_url) as users:
        for user in (SERVICES, ALICE, BOB, OPS, GATEWAY):
            await users.add(user)
        await rabbitmqctl("set_permissions", "-p", users.vhost, SERVICES, ".*", ".*", ".*")
        settings = Settings(
            amqp_url=users.url(SERVICES),
            mongodb_url=servers.mongodb_url,
            prefix=PREFIX,
            database=f"ibauth_{RUN}",
            command_http_port=0,
            query_http_port=0,
            auth=AuthMode.REQUIRED,
            admins=frozenset({OPS}),
            gateways=frozenset({GATEWAY}),
            grant_cache_seconds=0,  # a revoke is seen at once: no waiting in the tests
        )
        apps = [create_commands(settings), create_queries(settings)]
        for app in apps:
            await app.start()
        world = World(users, settings)
        try:
            for principal in (ALICE, BOB, OPS, GATEWAY):
                await world.permit(principal)
                client = RawClient(users.url(principal), PREFIX, user_id=principal)
                world.clients[principal] = await client.__aenter__()
            await populate(world)
            yield world
        finally:
            for client in world.clients.values():
                await client.__aexit__()
            for app in apps:
                await app.stop()
            mongo = connect(settings.mongodb_url or "")
            await mongo.drop_database(settings.database)
            await mongo.close()


async def populate(world: World) -> None:
    """alice and bob create an entity each (alice with the SDK, which sets user_id itself and
    needs no right to declare the topology), then their data; permissions follow the grants."""
    async with InvoicebusClient(world.users.url(ALICE), PREFIX) as sdk:
        reply = await sdk.create(Resource.ENTITY, {"name": "Alice d.o.o."}, message_id="k-ent")
    world.entities[ALICE] = reply.id
    bob = await ok(world.clients[BOB].command("entity.create", {"name": "Bob s.p."}))
    world.entities[BOB] = bob["id"]
    for principal in (ALICE, BOB):
        await world.permit(principal)
    alice = world.clients[ALICE]
    rows = [world.entities[ALICE]]
    for n in range(3):
        body = {"name": f"Alice's customer {n}", "tax_number": f"SI{n}"}
        rows.append((await ok(alice.command("customer.create", body, message_id=f"k-c{n}")))["id"])
    rows.append(
        (await ok(alice.command("tax.create", {"rate": 22, "classification": "std"})))["id"]
    )
    rows.append((await ok(alice.command("item.create", {"name": "Tea", "price": 2})))["id"])
    world.alice_ids = set(rows)
    await ok(world.clients[BOB].command("customer.create", {"name": "Bob's customer"}))


async def ok(reply: Awaitable[Reply]) -> Any:
    answer = await reply
    assert answer.status in (200, 201), answer.body
    return answer.body


async def count_in(world: World, entity_id: str) -> int:
    mongo = connect(world.settings.mongodb_url or "")
    try:
        db = mongo[world.settings.database]
        return sum(
            [
                await db[c].count_documents({"entity_id": entity_id})
                for c in ("customers", "taxes", "items")
            ]
        )
    finally:
        await mongo.close()


async def test_without_user_id_a_message_is_unauthenticated(world: World) -> None:
    anonymous = RawClient(world.users.url(ALICE), PREFIX)  # no user_id
    async with anonymous:
        for reply in (
            await anonymous.command("customer.create", {"name": "x"}),
            await anonymous.query("customer.list", {}),
        ):
            assert reply.status == 401 and reply.body["error"]["code"] == "unauthenticated"
    async with InvoicebusClient(world.users.url(OPS), PREFIX) as ops:
        codes = [letter.error_code for letter in await ops.dlq_list()]
    assert "unauthenticated" in codes  # the refused command is kept


async def test_commands_never_write_into_another_tenant(world: World) -> None:
    alice_entity, bob = world.entities[ALICE], world.clients[BOB]
    before = await count_in(world, alice_entity)
    attacks: dict[str, dict[str, Any]] = {
        "customer.create": {"name": "mallory"},
        "tax.create": {"rate": 99, "classification": "mallory-was-here"},
        "item.create": {"name": "m", "price": 1},
    }
    for key, body in attacks.items():
        refused = await bob.command(key, body, entity_id=alice_entity)
        missing = await bob.command(key, body, entity_id=MISSING)
        assert refused.status == missing.status == 404
        # No oracle: "not yours" reads exactly as "does not exist".
        assert (
            refused.body["error"]["message"].replace(alice_entity, MISSING)
            == (missing.body["error"]["message"])
        )
        world.reached(f"command {key} into alice's entity", refused.body, named=alice_entity)
    REACHED["rows bob wrote into alice's entity"] = await count_in(world, alice_entity) - before


async def test_lists_show_nothing_of_another_tenant(world: World) -> None:
    bob, alice_entity = world.clients[BOB], world.entities[ALICE]
    for resource in Resource:
        named = await bob.query(resource.list_key, {"limit": 100}, entity_id=alice_entity)
        own = await bob.query(resource.list_key, {"limit": 100})
        assert own.status == 200
        assert named.status == (200 if resource is Resource.ENTITY else 404)
        world.reached(f"{resource.list_key} naming alice's entity", named.body, named=alice_entity)
        world.reached(f"{resource.list_key} of bob's own", own.body)
    entities = await ok(bob.query("entity.list", {"limit": 100}))
    assert [e["id"] for e in entities["data"]] == [world.entities[BOB]]
    everything = await ok(world.clients[OPS].query("entity.list", {"limit": 100}))
    assert {world.entities[ALICE], world.entities[BOB]} <= {e["id"] for e in everything["data"]}


async def test_another_tenant_s_cursor_is_refused(world: World) -> None:
    bob = world.clients[BOB]
    page = await ok(world.clients[ALICE].query("customer.list", {"limit": 1}))
    ops_page = await ok(world.clients[OPS].query("entity.list", {"limit": 1}))
    for cursor in (page["pagination"]["next_cursor"], ops_page["pagination"]["next_cursor"]):
        assert cursor
        for resource in ("customer", "entity"):
            reply = await bob.query(f"{resource}.list", {"next_cursor": cursor})
            assert reply.status == 422 and reply.body["error"]["code"] == "invalid_cursor"
            world.reached(f"{resource}.list with another's cursor", reply.body)


async def test_idempotency_keys_are_per_sender_and_no_oracle(world: World) -> None:
    # alice created her entity with message_id k-ent. Another body under her key is no 409
    # (which would say the key is taken), and her very body under it is no replay of hers.
    other = await ok(world.clients[BOB].command("entity.create", {"name": "O"}, message_id="k-ent"))
    same = await ok(
        world.clients[OPS].command("entity.create", {"name": "Alice d.o.o."}, message_id="k-ent")
    )
    assert world.entities[ALICE] not in {other["id"], same["id"]} and other["id"] != same["id"]
    world.reached("entity.create replaying alice's message_id", [other, same])
    customer = await ok(
        world.clients[BOB].command("customer.create", {"name": "b"}, message_id="k-c0")
    )
    world.reached("customer.create replaying alice's message_id", customer)


async def test_events_reach_only_their_own_tenant(world: World) -> None:
    alice_entity, bob_entity = world.entities[ALICE], world.entities[BOB]
    bob = await aio_pika.connect(world.users.url(BOB))
    alice = await aio_pika.connect(world.users.url(ALICE))
    async with bob, alice:
        bob_queue = await bind(bob, [f"{bob_entity}.#"])
        alice_queue = await bind(alice, [f"{alice_entity}.#"])
        refused = 0
        for exchange, key in [
            (TOPOLOGY.tenant_events_exchange, k)
            for k in (
                "#",
                "*.customer.created",
                f"{alice_entity}.#",
                f"{alice_entity}.customer.created",
                bob_entity,
                f"#.{bob_entity}.#",
                f"*.{alice_entity}.#",
                "",
            )
        ] + [(TOPOLOGY.events_exchange, "#"), (TOPOLOGY.events_exchange, "customer.created")]:
            refused += await is_refused(bind(bob, [key], exchange=exchange, queue=bob_queue))
        assert refused == 10
        # Allowed keys start with bob's own entity, so they never match alice's events:
        await bind(bob, [f"{bob_entity}.*.*", f"{bob_entity}.customer.created"], queue=bob_queue)

        await ok(world.clients[ALICE].command("customer.create", {"name": "new"}))
        await ok(world.clients[BOB].command("customer.create", {"name": "bob's"}))
        # Replies follow confirmed events, so both are in the queues they were routed to.
        assert await depth(alice, alice_queue) == 1  # alice sees her own
        REACHED["alice's events in bob's queue"] = await depth(bob, bob_queue) - 1
        # A refusal reaches the entity's tenant only when its sender may act there: alice's
        # own mistake does, bob's attempt on her entity does not.
        assert (await world.clients[ALICE].command("customer.create", {})).status == 422
        bad = await world.clients[BOB].command("customer.create", {}, entity_id=alice_entity)
        assert bad.status == 404
        REACHED["bob's rejected events in alice's queue"] = await depth(alice, alice_queue) - 2

        for exchange, key in [
            (TOPOLOGY.events_exchange, "customer.created"),
            (TOPOLOGY.tenant_events_exchange, f"{alice_entity}.customer.created"),
            ("", alice_queue),
        ]:
            forged = aio_pika.Message(b'{"id": "cust_forged"}', user_id=BOB)
            assert await is_refused(publish(bob, exchange, key, forged))
        spoofed = aio_pika.Message(b"{}", user_id=ALICE)  # claiming to be alice
        assert await is_refused(
            publish(bob, TOPOLOGY.commands_exchange, "customer.create", spoofed)
        )
        REACHED["forged events reaching alice"] = await depth(alice, alice_queue) - 2


async def test_the_sdk_tails_a_tenant_s_own_entities_only(world: World) -> None:
    alice_entity = world.entities[ALICE]
    async with InvoicebusClient(world.users.url(ALICE), PREFIX) as sdk:
        ready = asyncio.Event()
        events = sdk.tail(["customer.created"], entity_ids=[alice_entity], on_ready=ready.set)
        first = asyncio.ensure_future(anext(events))
        await ready.wait()
        created = await ok(world.clients[ALICE].command("customer.create", {"name": "tailed"}))
        event = await asyncio.wait_for(first, 20)
        assert (event.body["id"], event.entity_id) == (created["id"], alice_entity)
    async with InvoicebusClient(world.users.url(BOB), PREFIX) as sdk:
        assert await is_refused(anext(sdk.tail(["#"], entity_ids=[alice_entity])))
        assert await is_refused(anext(sdk.tail(["#"])))  # the internal events exchange


async def test_a_gateway_acts_as_its_caller_s_key_and_nothing_else(world: World) -> None:
    created = json.loads(await world.cli("keys", "create", "--principal", ALICE))
    key_hash = hashlib.sha256(created["key"].encode()).hexdigest()
    assert key_hash not in await world.cli("keys", "list")  # neither the key nor its hash
    gateway, header = world.clients[GATEWAY], "x-invoicebus-key-sha256"
    page = await ok(gateway.query("customer.list", {"limit": 100}, headers={header: key_hash}))
    alices = await ok(world.clients[ALICE].query("customer.list", {"limit": 100}))
    assert page["data"] == alices["data"]  # alice's, through the gateway
    bob_entity = world.entities[BOB]
    refused = await gateway.query(
        "customer.list", {}, headers={header: key_hash}, entity_id=bob_entity
    )
    assert refused.status == 404
    for unknown in ({header: "0" * 64}, {}):
        assert (await gateway.query("customer.list", {}, headers=unknown)).status == 401
    # The header counts from a gateway only: bob sending it still acts as bob.
    bobs = await ok(
        world.clients[BOB].query("customer.list", {"limit": 100}, headers={header: key_hash})
    )
    world.reached("bob forwarding alice's API key hash", bobs)
    await world.cli("keys", "revoke", "--prefix", created["prefix"])
    assert (await gateway.query("customer.list", {}, headers={header: key_hash})).status == 401


async def test_grants_from_the_cli_take_effect_and_so_do_revokes(world: World) -> None:
    alice_entity, bob = world.entities[ALICE], world.clients[BOB]
    await world.cli("access", "grant", "--principal", BOB, "--entity", alice_entity)
    listed = [
        json.loads(line)
        for line in (await world.cli("access", "list", "--entity", alice_entity)).splitlines()
    ]
    assert {g["principal"] for g in listed} == {ALICE, BOB}
    granted = await ok(bob.query("customer.list", {"limit": 100}, entity_id=alice_entity))
    alices = await ok(world.clients[ALICE].query("customer.list", {"limit": 100}))
    assert granted["data"] == alices["data"]  # a grant works at once
    await world.cli("access", "revoke", "--principal", BOB, "--entity", alice_entity)
    assert (await bob.query("customer.list", {}, entity_id=alice_entity)).status == 404


def test_report_every_attack_reached_nothing() -> None:
    width = max(map(len, REACHED))
    print("\nattack".ljust(width + 1), "alice's rows reached")
    for attack, rows in REACHED.items():
        print(attack.ljust(width), rows)
    assert len(REACHED) >= 15 and not any(REACHED.values()), REACHED


async def bind(
    connection: AbstractConnection,
    keys: list[str],
    *,
    exchange: str = TOPOLOGY.tenant_events_exchange,
    queue: str | None = None,
) -> str:
    """Bind ``keys`` to the connection's exclusive queue (declared first when ``queue`` is
    None) on a channel of its own, as any client would; the queue's name."""
    channel = await connection.channel()
    if queue is None:
        declared = await channel.declare_queue(exclusive=True)
        queue = declared.name
    target = await channel.get_queue(queue, ensure=False)
    for key in keys:
        await target.bind(exchange, routing_key=key)
    await channel.close()
    return queue


async def publish(
    connection: AbstractConnection, exchange: str, key: str, message: aio_pika.Message
) -> None:
    channel = await connection.channel(publisher_confirms=True)
    target = (
        await channel.get_exchange(exchange, ensure=False) if exchange else channel.default_exchange
    )
    await target.publish(message, key)
    await channel.close()


async def depth(connection: AbstractConnection, queue: str) -> int:
    channel = await connection.channel()
    declared = await channel.declare_queue(queue, passive=True)
    await channel.close()
    result: int = declared.declaration_result.message_count or 0
    return result


async def is_refused(action: Awaitable[Any]) -> bool:
    """Whether the broker refused it (the channel is closed with 403 or 406)."""
    try:
        await action
    except (aio_pika.exceptions.ChannelClosed, aio_pika.exceptions.AMQPChannelError):
        return True
    return False
