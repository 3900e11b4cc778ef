"""customer.create and entity.create end to end: raw AMQP in, MongoDB and events out."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from invoicebus.settings import Settings
from tests.support.amqp import RawClient, body, peek_queue

pytestmark = pytest.mark.usefixtures("command_service")

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

# The customer example of the API reference, ids and timestamps aside.
REFERENCE_CUSTOMER: dict[str, Any] = {
    "name": "Minimal Customer",
    "email": None,
    "address": None,
    "address_2": None,
    "post_code": None,
    "city": None,
    "state": None,
    "country": None,
    "country_code": None,
    "tax_number": None,
    "metadata": {},
    "vies": None,
}


async def test_minimal_customer_matches_reference_in_reply_and_event(
    client: RawClient, entity: dict[str, Any]
) -> None:
    tap = await client.subscribe("customer.*")
    message_id = str(uuid.uuid4())
    reply = await client.command(
        "customer.create",
        {"name": "Minimal Customer"},
        entity_id=entity["id"],
        message_id=message_id,
    )
    assert reply.status == 201
    created = reply.body
    assert list(created) == [
        "id", "name", "email", "address", "address_2", "post_code", "city", "state", "country",
        "country_code", "tax_number", "entity_id", "metadata", "vies", "created_at", "updated_at",
    ]  # fmt: skip
    assert {k: created[k] for k in REFERENCE_CUSTOMER} == REFERENCE_CUSTOMER
    assert re.fullmatch(r"cust_[0-9a-f]{24}", created["id"])
    assert created["entity_id"] == entity["id"]
    assert TIMESTAMP.match(created["created_at"]) and TIMESTAMP.match(created["updated_at"])

    event = await tap.wait_for(lambda m: body(m)["id"] == created["id"])
    assert event.routing_key == "customer.created"
    assert body(event) == created
    assert event.correlation_id == message_id
    assert re.fullmatch(r"evt_[0-9a-f]{24}", event.message_id or "")
    assert event.headers["x-event-type"] == "customer.created"
    assert event.headers["x-entity-id"] == entity["id"]
    assert event.delivery_mode == 2  # persistent


async def test_customer_is_stored(client: RawClient, entity: dict[str, Any], db: Any) -> None:
    reply = await client.command(
        "customer.create",
        {"name": "Stored", "email": "a@b.co", "country_code": "si", "metadata": {"crm": "42"}},
        entity_id=entity["id"],
    )
    assert reply.status == 201, reply.body
    doc = await db.customers.find_one({"_id": reply.body["id"]})
    assert doc["name"] == "Stored"
    assert doc["country_code"] == "SI"
    assert doc["metadata"] == {"crm": "42"}
    assert doc["entity_id"] == entity["id"]
    assert doc["_pending"] is False  # its event was published and confirmed


async def test_without_header_the_first_created_entity_is_used(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    first = await db.entities.find_one({}, sort=[("_id", 1)])
    assert first["_id"] <= entity["id"]
    reply = await client.command("customer.create", {"name": "No header"})
    assert reply.status == 201
    assert reply.body["entity_id"] == first["_id"]


async def test_unknown_entity_is_entity_not_found(client: RawClient, command_service: Any) -> None:
    reply = await client.command("customer.create", {"name": "X"}, entity_id="ent_" + "0" * 24)
    assert reply.status == 404
    assert reply.body["error"]["code"] == "entity_not_found"


INVALID = [
    ({}, ["name"], "missing name"),
    ({"name": "   "}, ["name"], "blank name"),
    ({"name": "X", "email": "not-an-email"}, ["email"], "bad email"),
    ({"name": "X", "metadata": {f"k{i}": "v" for i in range(51)}}, ["metadata"], "51 keys"),
    ({"name": "X", "metadata": {"k": "v" * 251}}, ["metadata"], "251-char value"),
    ({"name": "X", "nickname": "Y"}, ["nickname"], "unknown field"),
    ({"name": "X", "country_code": "XX"}, ["country_code"], "bad country"),
    ({"name": "X" * 257}, ["name"], "long name"),
]


@pytest.mark.parametrize(("payload", "loc", "why"), INVALID, ids=[case[2] for case in INVALID])
async def test_invalid_customer_is_refused_kept_and_announced(
    client: RawClient, entity: dict[str, Any], settings: Settings,
    payload: dict[str, Any], loc: list[str], why: str,
) -> None:  # fmt: skip
    await assert_refused(client, entity, settings, payload, loc)


async def test_non_json_bytes_are_refused(
    client: RawClient, entity: dict[str, Any], settings: Settings
) -> None:
    await assert_refused(client, entity, settings, b"\xff\xfe not json", ["body"])


async def assert_refused(
    client: RawClient,
    entity: dict[str, Any],
    settings: Settings,
    payload: dict[str, Any] | bytes,
    loc: list[str],
) -> None:
    tap = await client.subscribe("customer.rejected")
    message_id = str(uuid.uuid4())
    reply = await client.command(
        "customer.create", payload, entity_id=entity["id"], message_id=message_id
    )
    assert reply.status == 422, reply.body
    error = reply.body["error"]
    assert error["code"] == "validation_error"
    assert error["type"] == "invalid_request_error"
    assert error["errors"][0]["loc"][: len(loc)] == loc
    assert loc[0] in error["message"]

    rejected = await tap.wait_for(lambda m: body(m)["command_id"] == message_id)
    assert body(rejected)["error"] == error

    dead = [m for m in await peek_queue(settings.amqp_url, settings.topology.dead_letter_queue)
            if m.message_id == message_id]  # fmt: skip
    assert len(dead) == 1
    assert dead[0].body == (payload if isinstance(payload, bytes) else dead[0].body)
    assert dead[0].headers["x-error-code"] == "validation_error"
    assert dead[0].headers["x-original-routing-key"] == "customer.create"

    # ...and the service goes on with the next valid command.
    ok = await client.command("customer.create", {"name": "Next"}, entity_id=entity["id"])
    assert ok.status == 201
