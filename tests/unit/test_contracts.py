"""The contract models and wire codec: validation rules, money and timestamp formats."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from invoicebus_contracts import (
    CreateCustomer,
    CreateItem,
    CreateTax,
    ErrorCode,
    Item,
    Resource,
    Topology,
    limits,
    wire,
)
from invoicebus_contracts.fields import decimal_to_json, format_timestamp
from invoicebus_contracts.limits import MAX_BODY_BYTES
from invoicebus_contracts.wire import InvalidMessage, decode_json, encode, parse


def refused(model: type[Any], body: bytes) -> dict[str, Any]:
    with pytest.raises(InvalidMessage) as caught:
        parse(model, body)
    result: dict[str, Any] = caught.value.body.model_dump(mode="json")["error"]
    return result


def locs(error: dict[str, Any]) -> list[list[str | int]]:
    return [d["loc"] for d in error["errors"]]


def test_minimal_customer() -> None:
    customer = parse(CreateCustomer, b'{"name": "  Minimal Customer "}')
    assert customer.name == "Minimal Customer"
    assert customer.metadata == {}
    assert customer.email is None


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["name"]),
        ({"name": ""}, ["name"]),
        ({"name": " \t "}, ["name"]),
        ({"name": "x" * 257}, ["name"]),
        ({"name": "X", "email": "no-at-sign"}, ["email"]),
        ({"name": "X", "email": "a@b"}, ["email"]),
        ({"name": "X", "country_code": "ZZ"}, ["country_code"]),
        ({"name": "X", "country_code": "SVN"}, ["country_code"]),
        ({"name": "X", "metadata": {"a": 1}}, ["metadata", "a"]),
        ({"name": "X", "metadata": {"a.b": "v"}}, ["metadata"]),
        ({"name": "X", "metadata": {"$where": "v"}}, ["metadata"]),
        ({"name": "X", "metadata": {"a\u0000b": "v"}}, ["metadata"]),
        ({"name": "X", "metadata": {"\u0000": "v"}}, ["metadata"]),
        ({"name": "X", "metadata": {"\u0000$": "v"}}, ["metadata"]),
        ({"name": "X", "metadata": {"k" * 41: "v"}}, ["metadata"]),
        ({"name": "X", "metadata": {"k": "v" * 251}}, ["metadata"]),
        ({"name": "X", "metadata": {f"k{i}": "v" for i in range(51)}}, ["metadata"]),
        ({"name": "X", "unknown": 1}, ["unknown"]),
        ({"name": 5}, ["name"]),
    ],
)
def test_customer_refusals_name_the_field(body: dict[str, Any], loc: list[str]) -> None:
    error = refused(CreateCustomer, json.dumps(body).encode())
    assert error["code"] == ErrorCode.VALIDATION_ERROR
    assert locs(error)[0] == loc
    assert str(loc[0]) in error["message"]


def test_validator_messages_reach_clients_without_pydantic_wording() -> None:
    body = b'{"name": "X", "email": "nope", "country_code": "XX", "metadata": {"a.b": "v"}}'
    error = refused(CreateCustomer, body)
    messages = [error["message"], *(d["msg"] for d in error["errors"])]
    assert not [m for m in messages if "Value error" in m or "Assertion failed" in m], messages
    assert (
        error["message"]
        == "invalid email, country_code, metadata: value is not a valid email address"
    )
    assert error["errors"][1]["msg"].startswith("must be an ISO 3166-1 alpha-2 country code")


def test_metadata_limits_are_inclusive() -> None:
    body = {"name": "X", "metadata": {f"{i:040d}": "v" * 250 for i in range(50)}}
    assert len(parse(CreateCustomer, json.dumps(body).encode()).metadata) == 50


def test_country_code_is_normalised_to_upper_case() -> None:
    assert parse(CreateCustomer, b'{"name": "X", "country_code": "si"}').country_code == "SI"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xfe", "UTF-8"),
        (b"{not json", "not valid JSON"),
        (b'{"name": NaN}', "NaN"),
        (b'{"name": Infinity}', "Infinity"),
        (b"[1, 2]", "JSON object"),
        (b'"just a string"', "JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "bytes"),
        (b"[" * 5_000 + b"]" * 5_000, "nested too deeply"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_refused(body: bytes, message: str) -> None:
    error = refused(CreateCustomer, body)
    assert message in error["message"]
    assert locs(error) == [["body"]]


def test_oversized_body_names_the_limit() -> None:
    error = refused(CreateCustomer, b" " * (MAX_BODY_BYTES + 1))
    assert str(MAX_BODY_BYTES) in error["message"]


def test_json_numbers_are_read_exactly() -> None:
    assert decode_json(b'{"p": 0.1}') == {"p": Decimal("0.1")}
    assert decode_json(b'{"p": 9.999999999999999999}')["p"] == Decimal("9.999999999999999999")


HUGE = [
    ("rate", "1e10000000", ["rate"]),
    ("rate", "1e-10000000", ["rate"]),
    ("rate", "9" * 5000, ["rate"]),
    ("taxes", '[{"rate": 1}, {"rate": -1E+6145}]', ["taxes", 1, "rate"]),
    ("x", "[[" + "1" * 101 + "]]", ["x", 0, 0]),
]


@pytest.mark.parametrize(("field", "value", "loc"), HUGE)
def test_huge_numbers_are_refused_before_any_conversion(
    field: str, value: str, loc: list[str | int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decoder's hooks see a number's text first: an out-of-range number is never
    converted (no int() or Decimal() of it), so refusing it costs the time to scan it."""
    converted: list[str] = []

    def spy(convert: Any) -> Any:
        def hook(text: str) -> Any:
            converted.append(text)
            return convert(text)

        return hook

    monkeypatch.setattr(wire, "Decimal", spy(Decimal))
    monkeypatch.setattr(wire, "int", spy(int), raising=False)
    with pytest.raises(InvalidMessage) as info:
        decode_json(f'{{"name": "n", "ok": 12.5, "{field}": {value}}}'.encode())
    error = info.value.body.error
    assert error.code is ErrorCode.VALIDATION_ERROR
    assert [d.loc for d in error.errors] == [loc]
    assert "number out of range" in error.message and str(loc[0]) in error.message
    refused = value.strip("[]{}").split()[-1].rstrip("}]")
    assert "12.5" in converted  # the spy sees conversions
    assert not any(refused in text for text in converted), converted


def test_numbers_within_range_are_read_as_before() -> None:
    longest = "1." + "0" * (limits.NUMBER_MAX_CHARS - 2)
    assert decode_json(f'{{"a": {longest}, "b": 1e6144, "c": -1E-6144}}'.encode()) == {
        "a": Decimal(longest), "b": Decimal("1e6144"), "c": Decimal("-1e-6144"),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b'{"name": "\\ud800"}', ["name"]),
        (b'{"name": "n", "metadata": {"k": "a\\udfffb"}}', ["metadata", "k"]),
        (b'{"name": "n", "metadata": {"\\ud800": "v"}}', ["metadata", "\\ud800"]),
        (b'{"taxes": [{"classification": "\\udbff"}]}', ["taxes", 0, "classification"]),
    ],
)
def test_text_that_is_not_unicode_is_refused_naming_the_field(
    body: bytes, loc: list[str | int]
) -> None:
    with pytest.raises(InvalidMessage) as info:
        decode_json(body)
    error = info.value.body.error
    assert [d.loc for d in error.errors] == [loc]
    assert "not valid Unicode" in error.message
    encode(info.value.body)  # and the reply can be written


def test_surrogate_pairs_and_escaped_backslashes_are_text() -> None:
    assert decode_json(b'{"a": "\\ud83d\\ude00", "b": "\\\\ud800"}') == {
        "a": "\U0001f600", "b": "\\ud800",
    }  # fmt: skip


def test_item_price_and_gross_price_together_names_both() -> None:
    error = refused(CreateItem, b'{"name": "X", "price": 1, "gross_price": 2}')
    assert locs(error) == [["price"], ["gross_price"]]
    assert "price" in error["message"]
    assert "gross_price" in error["message"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "X", "price": -1}, ["price"]),
        ({"name": "X", "price": 1.234}, ["price"]),
        ({"name": "X", "price": "abc"}, ["price"]),
        ({"name": "X", "price": "10.05"}, ["price"]),
        ({"name": "X", "price": True}, ["price"]),
        ({"name": "X", "gross_price": 1e13}, ["gross_price"]),
        ({"name": "X", "taxes": [{}]}, ["taxes", 0]),
        ({"name": "X", "taxes": [{"rate": 22, "classification": "s"}]}, ["taxes", 0]),
        ({"name": "X", "taxes": [{"rate": 101}]}, ["taxes", 0, "rate"]),
        ({"name": "X", "taxes": [{"rate": 22}, {"rate": 22.0}]}, ["taxes", 1]),
        ({"name": "X", "tax_ids": ["tax_1"]}, ["tax_ids", 0]),
    ],
)
def test_item_refusals(body: dict[str, Any], loc: list[str | int]) -> None:
    error = refused(CreateItem, json.dumps(body).encode())
    assert locs(error)[0] == loc


def test_tax_rate_bounds_and_places() -> None:
    assert parse(CreateTax, b'{"rate": 9.5}').rate == Decimal("9.5")
    assert parse(CreateTax, b'{"rate": 0}').rate == 0
    assert parse(CreateTax, b'{"rate": 100}').rate == 100
    assert locs(refused(CreateTax, b'{"rate": 12.34567}')) == [["rate"]]
    assert locs(refused(CreateTax, b'{"rate": -0.5}')) == [["rate"]]
    assert locs(refused(CreateTax, b"{}")) == [["rate"]]
    assert locs(refused(CreateTax, b'{"rate": "22"}')) == [["rate"]]


def test_money_is_a_json_number_with_its_exact_digits() -> None:
    assert decimal_to_json(Decimal("200")) == 200
    assert isinstance(decimal_to_json(Decimal("200.00")), int)
    assert json.dumps(decimal_to_json(Decimal("0.30"))) == "0.3"
    assert json.dumps(decimal_to_json(Decimal("999999999999.99"))) == "999999999999.99"
    now = datetime(2024, 1, 1, tzinfo=UTC)
    item = Item(
        id="item_" + "a" * 24, name="X", description=None, price=Decimal("9.13"),
        gross_price=Decimal("10"), total_tax=Decimal("0.87"), tax_ids=[], unit=None,
        entity_id="ent_" + "b" * 24, metadata={}, created_at=now, updated_at=now,
    )  # fmt: skip
    text = encode(item).decode()
    assert '"price":9.13' in text
    assert '"gross_price":10' in text
    assert '"total_tax":0.87' in text
    assert '"created_at":"2024-01-01T00:00:00.000Z"' in text


def test_timestamps_are_utc_milliseconds_with_z() -> None:
    moment = datetime(2024, 9, 1, 12, 30, 5, 123999, tzinfo=UTC)
    assert format_timestamp(moment) == "2024-09-01T12:30:05.123Z"


def test_topology_names_follow_the_contract() -> None:
    topology = Topology()
    assert topology.commands_exchange == "invoicebus.commands"
    assert topology.events_exchange == "invoicebus.events"
    assert topology.queries_exchange == "invoicebus.queries"
    assert topology.dead_letter_exchange == "invoicebus.dlx"
    assert topology.dead_letter_queue == "invoicebus.dead-letter"
    assert Resource.CUSTOMER.create_key == "customer.create"
    assert Resource.ITEM.created_key == "item.created"
    assert Resource.TAX.rejected_key == "tax.rejected"
    assert Resource.ENTITY.list_key == "entity.list"
    assert [r.id_prefix for r in Resource] == ["ent", "cust", "tax", "item"]


def test_the_shard_count_is_a_setting_and_the_others_are_retired() -> None:
    topology = Topology("p", command_shards=2)
    assert topology.command_queues == ("p.commands.shard-0", "p.commands.shard-1")
    retired = topology.retired_command_queues
    # The queues of before sharding, and the shards of any larger N, are drained, not kept.
    assert {f"p.{r.create_key}" for r in Resource} < set(retired)
    assert "p.commands.shard-2" in retired and "p.commands.shard-63" in retired
    assert not set(retired) & set(topology.command_queues)
    for wrong in (0, 65):
        with pytest.raises(ValueError, match="command_shards"):
            Topology("p", command_shards=wrong)


def test_declarations_bind_every_queue_once_to_a_declared_exchange() -> None:
    topology = Topology("p")
    declared = topology.declarations(delivery_limit=3)
    exchanges = {e.name: e.kind.value for e in declared.exchanges}
    assert exchanges == {
        "p.commands": "topic", "p.commands.shards": "x-consistent-hash", "p.events": "topic",
        "p.tenant-events": "topic", "p.queries": "direct", "p.dlx": "topic",
    }  # fmt: skip
    assert declared.exchange("p.commands.shards").arguments == {"hash-header": "x-entity-id"}
    assert topology.tenant_event_key("ent_1", "tax.created") == "ent_1.tax.created"
    to_queues = [b for b in declared.bindings if not b.to_exchange]
    assert sorted(b.queue for b in to_queues) == sorted(q.name for q in declared.queues)
    assert {b.exchange for b in declared.bindings} <= exchanges.keys()
    # The commands exchange forwards exactly the create keys to the shard exchange.
    forwarded = {(b.exchange, b.queue, b.routing_key) for b in declared.bindings if b.to_exchange}
    assert forwarded == {("p.commands", "p.commands.shards", r.create_key) for r in Resource}
    assert topology.command_queues == tuple(f"p.commands.shard-{i}" for i in range(8))
    for name in topology.command_queues:
        assert declared.binding(name).exchange == "p.commands.shards"
        assert declared.binding(name).routing_key == "1"  # equal weights on the hash ring
        assert declared.queue(name).amqp_arguments == {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": "p.dlx",
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-delivery-limit": 3,
        }
    for resource in Resource:
        query = declared.queue(topology.query_queue(resource))
        assert declared.binding(query.name).exchange == "p.queries"
        assert query.amqp_arguments == {"x-queue-type": "quorum"}
    # Browsing dead letters counts as deliveries: a quorum queue's default limit would drop them.
    assert declared.queue("p.dead-letter").amqp_arguments == {"x-queue-type": "classic"}
    assert declared.binding("p.dead-letter").routing_key == "#"
