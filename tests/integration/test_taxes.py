"""tax.create end to end: raw AMQP in, MongoDB and events out; classifications unique per entity."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from bson import Decimal128

from invoicebus.settings import Settings
from tests.support.amqp import RawClient, body
from tests.support.refusals import assert_refused

pytestmark = pytest.mark.usefixtures("command_service")

TAX_FIELDS = ["id", "name", "rate", "classification", "entity_id", "created_at", "updated_at"]


async def test_tax_is_created_announced_and_stored(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    tap = await client.subscribe("tax.*")
    message_id = str(uuid.uuid4())
    reply = await client.command(
        "tax.create",
        {"rate": 9.5, "name": "VAT reduced", "classification": "reduced"},
        entity_id=entity["id"],
        message_id=message_id,
    )
    assert reply.status == 201, reply.body
    tax = reply.body
    assert list(tax) == TAX_FIELDS
    assert re.fullmatch(r"tax_[0-9a-f]{24}", tax["id"])
    assert (tax["name"], tax["rate"], tax["classification"]) == ("VAT reduced", 9.5, "reduced")
    assert tax["entity_id"] == entity["id"]
    assert b'"rate":9.5,' in reply.message.body

    event = await tap.wait_for(lambda m: body(m)["id"] == tax["id"])
    assert event.routing_key == "tax.created"
    assert body(event) == tax
    assert event.correlation_id == message_id
    assert event.headers["x-entity-id"] == entity["id"]

    doc = await db.taxes.find_one({"_id": tax["id"]})
    assert doc["rate"] == Decimal128("9.5")
    assert doc["_pending"] is False


async def test_minimal_tax_has_null_name_and_classification(
    client: RawClient, entity: dict[str, Any]
) -> None:
    reply = await client.command("tax.create", {"rate": 0}, entity_id=entity["id"])
    assert reply.status == 201, reply.body
    assert (reply.body["rate"], reply.body["name"], reply.body["classification"]) == (0, None, None)


async def test_rate_keeps_four_decimals_exactly(client: RawClient, entity: dict[str, Any]) -> None:
    reply = await client.command("tax.create", {"rate": 12.3456}, entity_id=entity["id"])
    assert reply.status == 201, reply.body
    assert b'"rate":12.3456,' in reply.message.body


async def test_taxes_without_classification_may_share_a_rate(
    client: RawClient, entity: dict[str, Any]
) -> None:
    first = await client.command("tax.create", {"rate": 22}, entity_id=entity["id"])
    second = await client.command("tax.create", {"rate": 22}, entity_id=entity["id"])
    assert (first.status, second.status) == (201, 201)
    assert first.body["id"] != second.body["id"]


async def test_duplicate_classification_is_409_naming_classification(
    client: RawClient, entity: dict[str, Any], settings: Settings, db: Any
) -> None:
    ok = await client.command(
        "tax.create", {"rate": 22, "classification": "standard"}, entity_id=entity["id"]
    )
    assert ok.status == 201, ok.body
    error = await assert_refused(
        client,
        settings,
        "tax.create",
        {"rate": 20, "classification": "standard"},
        entity_id=entity["id"],
        status=409,
        code="resource_already_exists",
        loc=["classification"],
    )
    assert "standard" in error["message"]
    assert await db.taxes.count_documents({"entity_id": entity["id"]}) == 1


async def test_same_classification_in_another_entity_is_fine(
    client: RawClient, entity: dict[str, Any]
) -> None:
    other = await client.command("entity.create", {"name": "Other entity"})
    for entity_id in (entity["id"], other.body["id"]):
        reply = await client.command(
            "tax.create", {"rate": 22, "classification": "standard"}, entity_id=entity_id
        )
        assert reply.status == 201, reply.body


async def test_redelivered_tax_create_replies_with_the_original(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    command = {"rate": 5, "classification": "super-reduced"}
    message_id = str(uuid.uuid4())
    first = await client.command(
        "tax.create", command, entity_id=entity["id"], message_id=message_id
    )
    again = await client.command(
        "tax.create", command, entity_id=entity["id"], message_id=message_id
    )
    assert (first.status, again.status) == (201, 201)
    assert again.body == first.body
    assert await db.taxes.count_documents({"entity_id": entity["id"]}) == 1


async def test_reused_message_id_for_another_tax_is_an_idempotency_conflict(
    client: RawClient, entity: dict[str, Any], settings: Settings
) -> None:
    message_id = str(uuid.uuid4())
    first = await client.command(
        "tax.create", {"rate": 5, "classification": "x"}, entity_id=entity["id"],
        message_id=message_id,
    )  # fmt: skip
    assert first.status == 201
    again = await client.command(
        "tax.create", {"rate": 6, "classification": "x"}, entity_id=entity["id"],
        message_id=message_id,
    )  # fmt: skip
    assert again.status == 409
    assert again.body["error"]["code"] == "idempotency_conflict"


INVALID = [
    ({"rate": 100.01}, ["rate"], "rate over 100"),
    ({"rate": -1}, ["rate"], "negative rate"),
    ({"rate": 22.12345}, ["rate"], "5 decimals"),
    ({"rate": "abc"}, ["rate"], "not a number"),
    ({}, ["rate"], "missing rate"),
    ({"rate": 22, "classification": "  "}, ["classification"], "blank classification"),
    ({"rate": 22, "percent": 22}, ["percent"], "unknown field"),
]


@pytest.mark.parametrize(("payload", "loc", "why"), INVALID, ids=[case[2] for case in INVALID])
async def test_invalid_tax_is_refused_kept_and_announced(
    client: RawClient, entity: dict[str, Any], settings: Settings,
    payload: dict[str, Any], loc: list[str | int], why: str,
) -> None:  # fmt: skip
    await assert_refused(
        client, settings, "tax.create", payload,
        entity_id=entity["id"], status=422, code="validation_error", loc=loc,
    )  # fmt: skip


async def test_rate_of_exactly_100_is_accepted(client: RawClient, entity: dict[str, Any]) -> None:
    reply = await client.command("tax.create", {"rate": 100}, entity_id=entity["id"])
    assert reply.status == 201, reply.body
    assert reply.body["rate"] == 100
