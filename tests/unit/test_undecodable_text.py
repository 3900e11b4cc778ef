"""Text that is not UTF-8 in what arrives: how it is told apart and shown (the contracts'
``text``), where a message holds it (the SDK's ``decoding``), and what the dead-letter and event
parsing of the SDK make of it. Messages are aio-pika's own ``IncomingMessage``, with the values
pamqp (patched) decodes such bytes to."""

from __future__ import annotations

import json
from typing import Any

from aio_pika import IncomingMessage
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic
from pamqp.header import ContentHeader

from invoicebus_client.deadletters import dead_letter, origin, replay_message
from invoicebus_client.decoding import SHORT_STRING_PROPERTIES, json_or_text, undecodable
from invoicebus_client.events import event_from
from invoicebus_contracts.text import is_text, shown

FF = b"\xff".decode("utf-8", "surrogateescape")  # what pamqp_patch decodes the byte 0xff to


def incoming(body: bytes = b"{}", routing_key: str = "customer.create", **props: Any) -> Any:
    """A delivered message as aio-pika hands it to a consumer."""
    delivered = DeliveredMessage(
        delivery=Basic.Deliver("ctag", 1, False, "ex", routing_key),
        header=ContentHeader(body_size=len(body), properties=Basic.Properties(**props)),
        body=body,
        channel=None,  # type: ignore[arg-type]
    )
    return IncomingMessage(delivered, no_ack=True)


def test_text_that_is_not_utf8_is_told_apart_and_shown_escaped() -> None:
    assert is_text("ok ž") and not is_text(f"bad-{FF}")
    assert shown(f"bad-{FF}\udcfe") == "bad-\\xff\\xfe"
    assert shown(b"bad-\xff\xfe") == "bad-\\xff\\xfe"
    assert shown("ok ž") == "ok ž"
    assert shown("a\ud800b") == "a\\ud800b"  # a surrogate that escapes no byte (from JSON)
    for value in (f"bad-{FF}", b"\xc0\xaf", "a\ud800b"):
        shown(value).encode("utf-8")  # always UTF-8


def test_the_short_string_properties_are_pamqps() -> None:
    assert SHORT_STRING_PROPERTIES == (
        "content_type", "content_encoding", "correlation_id", "reply_to", "message_id", "type",
        "user_id", "app_id", "cluster_id",
    )  # fmt: skip


def test_undecodable_lists_properties_and_header_names_at_any_depth() -> None:
    message = incoming(
        message_id=f"bad-{FF}",
        message_type="\udcc0\udcaf",
        correlation_id="fine",
        headers={
            f"k{FF}": "v",
            "t": {f"n{FF}": 1, "ok": b"\xff"},  # a long string value may be binary
            "a": [1, {f"m{FF}": 2}],
            "x-entity-id": "ent_x",
        },
    )
    assert undecodable(message) == [
        ("message_id",),
        ("type",),
        ("headers", "k\\xff"),
        ("headers", "t", "n\\xff"),
        ("headers", "a", 1, "m\\xff"),
    ]
    assert undecodable(incoming(message_id="m", headers={"k": b"\xff"})) == []


def test_a_dead_letter_shows_every_undecodable_value_escaped_and_replays_the_original() -> None:
    message = incoming(
        body=b"not json \xff",
        routing_key=f"customer.create{FF}",
        message_id=f"bad-{FF}\udcfe",
        correlation_id=f"cor-{FF}",
        content_type=f"application/json{FF}",
        headers={
            f"k{FF}": b"\xfe",
            "x-error-code": "validation_error",
            "x-death": [{"exchange": b"ex\xff", "routing-keys": [b"rk\xff"], "count": 1}],
        },
    )
    letter = dead_letter(message)
    assert letter.message_id == "bad-\\xff\\xfe"
    assert letter.routing_key == "customer.create\\xff"
    assert letter.properties == {
        "content_type": "application/json\\xff",
        "correlation_id": "cor-\\xff",
    }
    assert letter.headers == {"k\\xff": "\\xfe"}
    assert (letter.original_exchange, letter.original_routing_key) == ("ex\\xff", "rk\\xff")
    assert letter.body == "not json \\xff"
    assert letter.error_code == "validation_error"
    json.dumps(letter.as_dict(), ensure_ascii=False).encode("utf-8")  # printable as it is

    # A replay goes where it was sent and carries the original bytes (pamqp_patch encodes
    # surrogate escapes back to them).
    assert origin(message) == (f"ex{FF}", f"rk{FF}")
    again = replay_message(message)
    assert again.message_id == f"bad-{FF}\udcfe"
    assert again.headers == {f"k{FF}": b"\xfe"}


def test_a_dead_letter_with_header_values_of_every_amqp_type_is_printable() -> None:
    """A command refused for its x-entity-id (a decimal, a table, void...) is dead-lettered
    with that header as it came; the dead-letter tools still show it as JSON."""
    from datetime import UTC, datetime
    from decimal import Decimal

    values = {"d": Decimal("12.50"), "t": {"n": [1, True, None]}, "v": None, "f": 1.5,
              "ts": datetime(2026, 1, 1, tzinfo=UTC)}  # fmt: skip
    letter = dead_letter(incoming(headers={"x-entity-id": Decimal("1.25"), **values}))
    printed = json.loads(json.dumps(letter.as_dict()))
    assert printed["headers"]["x-entity-id"] == "1.25"
    assert printed["headers"]["d"] == "12.50" and printed["headers"]["t"] == {"n": [1, True, None]}


def test_an_event_shows_undecodable_values_escaped() -> None:
    event = event_from(
        incoming(
            body=b'{"a": "\\ud800"}',
            routing_key=f"customer.created{FF}",
            message_id=f"evt{FF}",
            correlation_id=f"c{FF}",
        )
    )
    assert (event.type, event.id, event.correlation_id) == (
        "customer.created\\xff", "evt\\xff", "c\\xff",
    )  # fmt: skip
    assert event.body == {"a": "\\ud800"}
    assert json_or_text(b"\xff") == "\\xff"
