"""Keyset cursors: the sort order, the opaque format, the keyset filter and page assembly."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from invoicebus.querying.cursors import (
    Cursor,
    CursorError,
    Direction,
    Ordering,
    Position,
    decode_cursor,
    encode_cursor,
    fingerprint,
    keyset_filter,
    parse_order_by,
)
from invoicebus.querying.errors import QueryError
from invoicebus.querying.fields import Kind
from invoicebus.querying.pagination import assemble, page_query
from invoicebus.querying.seal import Seal
from invoicebus_contracts import ErrorCode, Resource
from invoicebus_contracts.limits import CURSOR_MAX

NAME = parse_order_by(Resource.CUSTOMER, "name")
BY_ID = parse_order_by(Resource.CUSTOMER, None)
FP = "0123456789abcdef"
ID = "cust_" + "a" * 24
SEAL = Seal(b"the service's key")


def roundtrip(value: Any, ordering: Ordering, direction: Direction = Direction.NEXT) -> Position:
    token = encode_cursor(direction, Position(ID, value), ordering, FP, SEAL)
    assert len(token) <= CURSOR_MAX
    assert token.isascii() and "=" not in token and "+" not in token and "/" not in token
    return decode_cursor(token, direction, ordering, FP, SEAL).position


def refused(token: str, ordering: Ordering = NAME, direction: Direction = Direction.NEXT) -> str:
    with pytest.raises(CursorError) as info:
        decode_cursor(token, direction, ordering, FP, SEAL)
    body = info.value.to_body()
    assert body.error.code is ErrorCode.INVALID_CURSOR
    assert body.status == 422
    assert body.error.errors[0].loc == [direction.field]
    return body.error.message


def encoded(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def forge(payload: Any) -> str:
    """A payload signed with the service's own key: what its checks see if the key leaked."""
    return SEAL.sign(encoded(payload))


# -- order_by -------------------------------------------------------------------------------


def test_order_by() -> None:
    assert parse_order_by(Resource.CUSTOMER, "id") == Ordering("id", "_id", Kind.ID)
    assert parse_order_by(Resource.CUSTOMER, None) == BY_ID
    assert BY_ID.sort() == [("_id", 1)]
    assert BY_ID.sort(reverse=True) == [("_id", -1)]
    newest = parse_order_by(Resource.CUSTOMER, "-created_at")
    assert newest == Ordering("created_at", "created_at", Kind.DATE, descending=True)
    assert newest.text == "-created_at"
    assert newest.sort() == [("created_at", -1), ("_id", -1)]
    assert newest.sort(reverse=True) == [("created_at", 1), ("_id", 1)]
    assert parse_order_by(Resource.ITEM, "price").kind is Kind.NUMBER
    assert parse_order_by(Resource.CUSTOMER, "").text == "id"


@pytest.mark.parametrize(
    "order_by", ["nope", "--name", "+name", "name,id", "metadata.x", "entity_id", "_id", "$name"]
)
def test_unknown_order_by_is_invalid_query(order_by: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_order_by(Resource.CUSTOMER, order_by)
    assert info.value.loc == ["order_by"]
    assert "id, name, address" in info.value.message


# -- format ---------------------------------------------------------------------------------


def test_typed_values_roundtrip() -> None:
    assert roundtrip("Ačme ☃", NAME) == Position(ID, "Ačme ☃")
    assert roundtrip(None, NAME) == Position(ID, None)
    price = parse_order_by(Resource.ITEM, "-price")
    exact = roundtrip(Decimal("200.50"), price).value
    assert exact == Decimal("200.50") and str(exact) == "200.50"
    created = parse_order_by(Resource.CUSTOMER, "created_at")
    moment = datetime(2024, 1, 1, 12, 30, 5, 123000, tzinfo=UTC)
    assert roundtrip(moment, created).value == moment
    assert roundtrip(datetime(1960, 1, 1, tzinfo=UTC), created).value.year == 1960
    assert roundtrip(None, BY_ID) == Position(ID)


def test_prev_direction_roundtrips() -> None:
    assert roundtrip("x", NAME, Direction.PREV) == Position(ID, "x")


def test_too_long_values_are_left_out_and_read_back_by_id() -> None:
    assert roundtrip("ž" * 256, NAME).value == "ž" * 256  # a long name still fits
    # The longest name of 4-byte characters (1 KiB of UTF-8) does not: it is left out.
    long_name = "😀" * 256
    token = encode_cursor(Direction.NEXT, Position(ID, long_name), NAME, FP, SEAL)
    assert len(token) <= CURSOR_MAX
    position = decode_cursor(token, Direction.NEXT, NAME, FP, SEAL).position
    assert position == Position(ID, None, known=False)
    with pytest.raises(ValueError, match="read from its document"):
        page_query({}, NAME, 10, Cursor(Direction.NEXT, position))


def test_fingerprint_separates_lists() -> None:
    name = parse_order_by(Resource.CUSTOMER, "name")
    base = fingerprint(Resource.CUSTOMER, "ent_1", name, "q")
    assert base == fingerprint(Resource.CUSTOMER, "ent_1", name, "q")
    assert base != fingerprint(Resource.ITEM, "ent_1", name, "q")
    assert base != fingerprint(Resource.CUSTOMER, "ent_2", name, "q")
    assert base != fingerprint(
        Resource.CUSTOMER, "ent_1", parse_order_by(Resource.CUSTOMER, "-name"), "q"
    )
    assert base != fingerprint(Resource.CUSTOMER, "ent_1", name, "q2")
    assert base != fingerprint(Resource.CUSTOMER, None, name, "q")


def test_cursor_of_another_list_is_refused() -> None:
    token = encode_cursor(Direction.NEXT, Position(ID, "x"), NAME, "another list", SEAL)
    assert "different list" in refused(token)


def test_cursor_in_the_wrong_field_is_refused() -> None:
    token = encode_cursor(Direction.PREV, Position(ID, "x"), NAME, FP, SEAL)
    assert "is a prev_cursor; send it as prev_cursor" in refused(token)
    token = encode_cursor(Direction.NEXT, Position(ID, "x"), NAME, FP, SEAL)
    assert "is a next_cursor" in refused(token, direction=Direction.PREV)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "!!!!",
        "eyJ2IjoxfQ==",  # padding is not part of the format, but tolerated: still not valid
        "é",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        forge([1, 2]),
        forge("text"),
        forge({"v": 1, "d": "n", "i": ID, "f": FP, "k": ["s", "x"]}),  # before signatures
        forge({"v": 2, "d": "x", "i": ID, "f": FP, "k": ["s", "x"]}),
        forge({"v": 2, "d": "n", "i": 5, "f": FP, "k": ["s", "x"]}),
        forge({"v": 2, "d": "n", "i": "", "f": FP, "k": ["s", "x"]}),
        forge({"v": 2, "d": "n", "i": "x" * 65, "f": FP, "k": ["s", "x"]}),
        forge({"v": 2, "d": "n", "i": ID, "f": None, "k": ["s", "x"]}),
        forge({"v": 2, "d": "n", "i": ID, "f": FP, "k": ["d", "1"]}),  # a number for text
        forge({"v": 2, "d": "n", "i": ID, "f": FP, "k": ["s", {"$gt": ""}]}),
        forge({"v": 2, "d": "n", "i": ID, "f": FP, "k": {"$gt": ""}}),
        forge({"v": 2, "d": "n", "i": ID, "f": FP, "k": ["s"]}),
        forge({"v": 2, "d": "n", "i": ID, "f": FP, "k": "x"}),
        forge({"v": 2, "d": "n", "i": ID, "f": FP, "k": ["t", 0]}),
        "[" * 700,
    ],
)
def test_malformed_cursors_are_refused(token: str) -> None:
    refused(token)


def test_a_cursor_is_signed_and_any_change_to_it_is_refused() -> None:
    token = encode_cursor(Direction.NEXT, Position(ID, "x"), NAME, FP, SEAL)
    payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert data == {"v": 2, "d": "n", "i": ID, "f": FP, "k": ["s", "x"]}
    # The payload edited (the lone surrogate, another id, another value): refused.
    for edit in ({"i": "\ud800"}, {"i": "cust_" + "b" * 24}, {"k": ["s", "y"]}):
        assert "not a cursor issued" in refused(f"{encoded({**data, **edit})}.{signature}")
    # Unsigned, signed by another key, or with a signature cut short or changed: refused.
    assert "not a cursor issued" in refused(payload)
    assert "not a cursor issued" in refused(Seal(b"another key").sign(payload))
    assert "not a cursor issued" in refused(token[:-1])
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    assert "not a cursor issued" in refused(f"{payload}.{flipped}")
    assert roundtrip("x", NAME) == Position(ID, "x")  # and the genuine one works


def test_text_that_is_not_unicode_is_refused_even_when_signed() -> None:
    """Never issued by the service; were its key to leak, still no crash downstream."""
    assert "not a cursor issued" in refused(forge({"v": 2, "d": "n", "i": "\ud800", "f": FP}))
    lone = forge({"v": 2, "d": "n", "i": ID, "f": FP, "k": ["s", "\udfff"]})
    assert "not a cursor issued" in refused(lone)


@pytest.mark.parametrize(
    ("order_by", "k"),
    [
        ("price", ["s", "1"]),
        ("price", ["d", "NaN"]),
        ("price", ["d", "Infinity"]),
        ("price", ["d", "abc"]),
        ("price", ["d", "1E+99999"]),
        ("price", ["d", 1]),
        ("created_at", ["t", "2024-01-01"]),
        ("created_at", ["t", True]),
        ("created_at", ["t", 10**20]),
        ("created_at", ["s", "x"]),
    ],
)
def test_values_must_fit_the_field(order_by: str, k: Any) -> None:
    ordering = parse_order_by(Resource.ITEM, order_by)
    refused(forge({"v": 2, "d": "n", "i": ID, "f": FP, "k": k}), ordering)


# -- keyset filter --------------------------------------------------------------------------


def test_keyset_by_id() -> None:
    pos = Position(ID)
    assert keyset_filter(BY_ID, pos, backwards=False) == {"_id": {"$gt": ID}}
    assert keyset_filter(BY_ID, pos, backwards=True) == {"_id": {"$lt": ID}}
    desc = parse_order_by(Resource.CUSTOMER, "-id")
    assert keyset_filter(desc, pos, backwards=False) == {"_id": {"$lt": ID}}
    assert keyset_filter(desc, pos, backwards=True) == {"_id": {"$gt": ID}}


def test_keyset_ascending_value() -> None:
    assert keyset_filter(NAME, Position(ID, "M"), backwards=False) == {
        "name": {"$gte": "M"},
        "$or": [{"name": {"$gt": "M"}}, {"name": {"$eq": "M"}, "_id": {"$gt": ID}}],
    }


def test_keyset_descending_value_includes_the_nulls_that_come_last() -> None:
    assert keyset_filter(NAME, Position(ID, "M"), backwards=True) == {
        "$or": [
            {"name": {"$lt": "M"}},
            {"name": {"$eq": "M"}, "_id": {"$lt": ID}},
            {"name": {"$eq": None}},
        ]
    }


def test_keyset_from_a_null() -> None:
    assert keyset_filter(NAME, Position(ID, None), backwards=False) == {
        "$or": [{"name": {"$eq": None}, "_id": {"$gt": ID}}, {"name": {"$ne": None}}]
    }
    assert keyset_filter(NAME, Position(ID, None), backwards=True) == {
        "name": {"$eq": None},
        "_id": {"$lt": ID},
    }


# -- page assembly --------------------------------------------------------------------------


def docs(*names: str) -> list[dict[str, Any]]:
    return [{"_id": f"cust_{i:024x}", "name": n} for i, n in enumerate(names)]


def test_first_page() -> None:
    query = page_query({"entity_id": "e"}, NAME, 2, None)
    assert (query.filter, query.sort, query.fetch) == (
        {"entity_id": "e"},
        [("name", 1), ("_id", 1)],
        3,
    )
    page = assemble(docs("a", "b", "c"), query, NAME, FP, SEAL)
    assert [d["name"] for d in page.documents] == ["a", "b"]
    assert page.prev_cursor is None
    assert page.has_more and page.next_cursor
    assert decode_cursor(page.next_cursor, Direction.NEXT, NAME, FP, SEAL).position == Position(
        docs("a", "b")[1]["_id"], "b"
    )

    only = assemble(docs("a", "b"), query, NAME, FP, SEAL)
    assert (only.next_cursor, only.prev_cursor, only.has_more) == (None, None, False)
    assert assemble([], query, NAME, FP, SEAL) == type(only)([], None, None)


def test_next_page_points_back() -> None:
    cursor = Cursor(Direction.NEXT, Position(ID, "b"))
    query = page_query({"entity_id": "e"}, NAME, 2, cursor)
    assert query.filter["entity_id"] == "e" and "$or" in query.filter
    last = assemble(docs("c"), query, NAME, FP, SEAL)
    assert last.next_cursor is None and not last.has_more
    assert last.prev_cursor is not None
    assert decode_cursor(last.prev_cursor, Direction.PREV, NAME, FP, SEAL).position.value == "c"


def test_prev_page_is_read_backwards_and_returned_in_order() -> None:
    cursor = Cursor(Direction.PREV, Position(ID, "d"))
    query = page_query({}, NAME, 2, cursor)
    assert query.sort == [("name", -1), ("_id", -1)]
    assert query.backwards
    fetched = list(reversed(docs("a", "b", "c")))  # c, b, a: the server's backwards order
    page = assemble(fetched, query, NAME, FP, SEAL)
    assert [d["name"] for d in page.documents] == ["b", "c"]
    assert page.prev_cursor is not None  # "a" comes before
    assert page.next_cursor is not None and page.has_more  # "d" comes after
    first = assemble(list(reversed(docs("a", "b"))), query, NAME, FP, SEAL)
    assert [d["name"] for d in first.documents] == ["a", "b"]
    assert first.prev_cursor is None
