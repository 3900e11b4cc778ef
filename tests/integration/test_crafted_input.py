"""Crafted input, over the real broker and database, to commands and list requests alike
(issue 9, items 4 to 7): each gets a clear 4xx naming what is wrong, never a 500, never the
wrong tenant.

- numbers with huge exponents or digit counts, and text that is not Unicode (item 4);
- metadata keys with NUL, and cursors edited or made up (item 5);
- an ``x-entity-id`` that is present but blank, or not a string at all (item 6);
- list request fields of the wrong JSON type (item 7).
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest

from invoicebus.settings import Settings
from invoicebus_contracts import Resource
from tests.support.amqp import RawClient
from tests.support.listing import customer, list_of, page, seed
from tests.support.refusals import assert_refused

pytestmark = pytest.mark.usefixtures("command_service", "query_service")

HUGE = [b"1e10000000", b"9" * 5000, b"1e-10000000"]


def body_with(field: str, number: bytes, **rest: Any) -> bytes:
    prefix = json.dumps(rest)[:-1] + ", " if rest else "{"
    return prefix.encode() + f'"{field}": '.encode() + number + b"}"


# -- item 4: huge numbers ---------------------------------------------------------------------


@pytest.mark.parametrize("number", HUGE, ids=["exponent", "digits", "negative exponent"])
async def test_huge_numbers_are_refused_naming_the_field_in_commands(
    client: RawClient, settings: Settings, entity: dict[str, Any], number: bytes
) -> None:
    for routing_key, field, rest in [
        ("tax.create", "rate", {}),
        ("item.create", "price", {"name": "Huge"}),
    ]:
        error = await assert_refused(
            client, settings, routing_key, body_with(field, number, **rest),
            entity_id=entity["id"], status=422, code="validation_error", loc=[field],
        )  # fmt: skip
        assert "number out of range" in error["message"]


@pytest.mark.parametrize("number", HUGE, ids=["exponent", "digits", "negative exponent"])
async def test_huge_numbers_are_refused_naming_the_field_in_list_requests(
    client: RawClient, entity: dict[str, Any], number: bytes
) -> None:
    reply = await client.query("customer.list", body_with("limit", number), entity_id=entity["id"])
    assert reply.status == 422, reply.body
    assert reply.body["error"]["code"] == "validation_error"
    assert reply.body["error"]["errors"][0]["loc"] == ["limit"]
    assert "number out of range" in reply.body["error"]["message"]
    for raw in (
        b'{"query": {"price": {"gte": ' + number + b"}}}",
        b'{"query": "{\\"price\\": {\\"gte\\": ' + number + b'}}"}',
    ):
        reply = await client.query("item.list", raw, entity_id=entity["id"])
        assert reply.status == 422, reply.body
        assert reply.body["error"]["code"] == "invalid_query"
        assert reply.body["error"]["errors"][0]["loc"] == ["query", "price", "gte"]


async def test_text_that_is_not_unicode_is_refused_in_commands(
    client: RawClient, settings: Settings, entity: dict[str, Any]
) -> None:
    """A lone surrogate escape used to reach the BSON encoder and come back as 500."""
    cases: list[tuple[str, bytes, list[str | int]]] = [
        ("customer.create", rb'{"name": "\ud800"}', ["name"]),
        ("item.create", rb'{"name": "n", "metadata": {"k": "\udfff"}}', ["metadata", "k"]),
    ]
    for routing_key, raw, loc in cases:
        error = await assert_refused(client, settings, routing_key, raw, entity_id=entity["id"],
                                     status=422, code="validation_error", loc=loc)  # fmt: skip
        assert "not valid Unicode" in error["message"]


# -- item 5: NUL keys, edited and forged cursors ------------------------------------------------


@pytest.mark.parametrize("key", ["a\u0000b", "\u0000", "\u0000$"], ids=["inside", "alone", "$"])
async def test_metadata_keys_with_nul_are_validation_errors(
    client: RawClient, settings: Settings, entity: dict[str, Any], key: str
) -> None:
    for routing_key, body in [
        ("entity.create", {"name": "n", "metadata": {key: "v"}}),
        ("customer.create", {"name": "n", "metadata": {key: "v"}}),
        ("item.create", {"name": "n", "metadata": {key: "v"}}),
    ]:
        error = await assert_refused(
            client, settings, routing_key, body,
            entity_id=entity["id"], status=422, code="validation_error", loc=["metadata"],
        )  # fmt: skip
        assert "NUL" in error["message"]


def edited(cursor: str, **changes: Any) -> str:
    payload, signature = cursor.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    text = json.dumps({**data, **changes}).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=") + "." + signature


async def test_edited_and_forged_cursors_are_invalid_cursor(
    client: RawClient, entity: dict[str, Any], db: Any
) -> None:
    e = entity["id"]
    await seed(db, Resource.CUSTOMER, [customer(e, f"c{i}") for i in range(4)])
    first = await page(client, "customer", e, limit=2, order_by="name")
    cursor = first["pagination"]["next_cursor"]
    assert len(cursor) <= 1024
    payload = cursor.split(".")[0]
    for bad in [
        edited(cursor, i="\ud800"),  # the edit: was a 500
        edited(cursor, i="cust_" + "0" * 24),
        edited(cursor, k=["s", "a"]),
        payload,  # unsigned, as cursors were
        payload + "." + "A" * 22,
        base64.urlsafe_b64encode(b'{"v":2,"d":"n","i":"x","f":"y"}').decode() + ".x",
    ]:
        reply = await list_of(client, "customer", e, limit=2, order_by="name", next_cursor=bad)
        assert reply.status == 422, reply.body
        assert reply.body["error"]["code"] == "invalid_cursor"
        assert reply.body["error"]["errors"][0]["loc"] == ["next_cursor"]
    second = await page(client, "customer", e, limit=2, order_by="name", next_cursor=cursor)
    assert [c["name"] for c in second["data"]] == ["c2", "c3"]  # the genuine one still works


# -- item 6: blank and odd x-entity-id -----------------------------------------------------------

ODD_HEADERS: list[Any] = ["", 0, False, [], ["ent_" + "0" * 24], {}, {"id": "x"}, None, Decimal(1)]


@pytest.mark.parametrize("value", ODD_HEADERS, ids=repr)
async def test_a_present_header_that_is_no_entity_id_is_entity_not_found(
    client: RawClient, settings: Settings, entity: dict[str, Any], value: Any
) -> None:
    """Only an absent header means the first entity; these used to act on it."""
    headers = {"x-entity-id": value}
    reply = await client.query("customer.list", {}, headers=headers)
    assert reply.status == 404, reply.body
    assert reply.body["error"]["code"] == "entity_not_found"
    assert reply.body["error"]["errors"][0]["loc"] == ["x-entity-id"]

    reply = await client.command("customer.create", {"name": "Nowhere"}, headers=headers)
    assert reply.status == 404, reply.body
    assert reply.body["error"]["errors"][0]["loc"] == ["x-entity-id"]
    assert "x-entity-id" in reply.body["error"]["message"]


async def test_an_absent_header_still_means_the_first_entity(
    client: RawClient, entity: dict[str, Any]
) -> None:
    reply = await client.command("customer.create", {"name": "Default"})
    assert reply.status == 201, reply.body
    assert (await client.query("customer.list", {"limit": 1})).status == 200


# -- item 7: strict list request fields ----------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("limit", "10"),
        ("limit", True),
        ("limit", 10.0),
        ("include_total_count", "yes"),
        ("include_total_count", 0),
        ("include_total_count", 1),
        ("include_total_count", "true"),
        ("search", 5),
        ("order_by", ["name"]),
        ("next_cursor", 1),
    ],
)
async def test_list_request_fields_of_the_wrong_type_are_refused(
    client: RawClient, entity: dict[str, Any], field: str, value: Any
) -> None:
    reply = await list_of(client, "customer", entity["id"], **{field: value})
    assert reply.status == 422, reply.body
    error = reply.body["error"]
    assert error["code"] == "validation_error"
    assert [d["loc"] for d in error["errors"]] == [[field]]
    assert field in error["message"]
