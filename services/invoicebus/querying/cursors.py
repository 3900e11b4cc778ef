"""Sort orders, opaque keyset cursors and the keyset filter (pure).

A list is ordered by one field and then by ``_id`` (ids are ObjectId-based, so unique and in
creation order): every document has a unique position ``(value, _id)``. A cursor names the
position of the last document of a page (``next``) or of the first (``prev``); the page it
leads to is the documents strictly after (or before) that position, read from the
``(entity_id, field, _id)`` index. Nothing is skipped or counted, so a deep page costs what the
first page costs, and documents inserted meanwhile never shift a page: nothing repeats and
nothing already listed is skipped.

Cursor format: ``<payload>.<signature>``. The payload is base64url (unpadded) of compact JSON
``{"v": 2, "d": "n"|"p", "k": <sort value>, "i": <id>, "f": <fingerprint>}`` where ``d`` is the
direction, ``k`` the type-tagged sort value (``["s", text]``, ``["d", "12.50"]``,
``["t", epoch milliseconds]`` or ``["n"]`` for null; absent when ordering by ``id``, or when
the value is too long for ``limits.CURSOR_MAX``: it is then read from the document by id), and
``f`` a fingerprint of the list (resource, entity, order_by, query, search) so a cursor can't be
used with a different list. The signature is a truncated HMAC-SHA256 of the payload with the
server's secret (``seal.Seal``): a cursor the service did not issue, or one edited by a single bit,
is refused before its payload is even decoded. Cursors are opaque to clients: the format may
change.

MongoDB orders null (and missing) before every value, so ascending lists start with the nulls
and descending lists end with them; the keyset filter follows the same rule.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from invoicebus_contracts import ErrorBody, ErrorCode, ErrorDetail, Resource, error_body
from invoicebus_contracts.limits import CURSOR_MAX, ID_MAX

from ..domain.errors import DomainError
from .compiler import Filter
from .errors import QueryError
from .fields import FIELDS, Document, Kind, storage_path, stored_number
from .seal import Seal, b64

VERSION = 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MISSING = object()


class CursorError(DomainError):
    """A cursor this list can't continue from: ``invalid_cursor`` (422)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(ErrorCode.INVALID_CURSOR, f"{field}: {message}", [field])
        self.detail = message

    def to_body(self) -> ErrorBody:
        return error_body(
            self.code, self.message, [ErrorDetail(loc=[*(self.loc or [])], msg=self.detail)]
        )


class Direction(StrEnum):
    NEXT = "n"
    PREV = "p"

    @property
    def field(self) -> str:
        """The request field that takes a cursor of this direction."""
        return "next_cursor" if self is Direction.NEXT else "prev_cursor"


@dataclass(frozen=True)
class Ordering:
    field: str  # public field name
    path: str  # stored path
    kind: Kind
    descending: bool = False

    @property
    def text(self) -> str:
        return f"-{self.field}" if self.descending else self.field

    def sort(self, *, reverse: bool = False) -> list[tuple[str, int]]:
        """The MongoDB sort, ties broken by ``_id`` (``reverse`` to walk backwards)."""
        direction = -1 if self.descending != reverse else 1
        if self.path == "_id":
            return [("_id", direction)]
        return [(self.path, direction), ("_id", direction)]


def parse_order_by(resource: Resource, order_by: str | None) -> Ordering:
    """``field`` (ascending) or ``-field`` (descending); default ``id``, i.e. creation order."""
    text = (order_by or "id").strip()
    name = text.removeprefix("-")
    kind = FIELDS[resource].queryable.get(name)
    if kind is None:
        sortable = ", ".join(FIELDS[resource].sortable)
        raise QueryError(
            f"cannot order by {text!r}; use one of {sortable}, with a leading '-' for"
            " descending order",
            ["order_by"],
        )
    return Ordering(name, storage_path(name), kind, descending=text.startswith("-"))


@dataclass(frozen=True)
class Position:
    """Where a cursor points: a document's sort value and id."""

    id: str
    #: The sort value as stored (str, Decimal, datetime or None); ``known`` is False when
    #: the cursor left it out (too long) and it must be read from the document.
    value: Any = None
    known: bool = True


@dataclass(frozen=True)
class Cursor:
    direction: Direction
    position: Position


def fingerprint(
    resource: Resource, entity_id: str | None, ordering: Ordering, canonical_query: str
) -> str:
    """What a cursor belongs to: one resource, entity, order and query+search."""
    text = "\0".join([resource.value, entity_id or "*", ordering.text, canonical_query])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def position_of(doc: Document, ordering: Ordering) -> Position:
    return Position(doc["_id"], doc.get(ordering.path))


# -- encoding -------------------------------------------------------------------------------


def encode_cursor(
    direction: Direction, position: Position, ordering: Ordering, fp: str, seal: Seal
) -> str:
    payload: dict[str, Any] = {"v": VERSION, "d": direction.value, "i": position.id, "f": fp}
    if ordering.path != "_id":
        token = seal.sign(_encode({**payload, "k": _tag(position.value)}))
        if len(token) <= CURSOR_MAX:
            return token
    return seal.sign(_encode(payload))


def decode_cursor(
    token: str, direction: Direction, ordering: Ordering, fp: str, seal: Seal
) -> Cursor:
    """The cursor's position, or a ``CursorError`` for anything this list did not issue."""
    field = direction.field
    payload = seal.open(token)
    if payload is None:
        raise CursorError("is not a cursor issued by this service", field)
    try:
        data = json.loads(
            base64.b64decode(payload + "=" * (-len(payload) % 4), b"-_", validate=True)
        )
    except (ValueError, binascii.Error, RecursionError):
        raise CursorError("is not a cursor issued by this service", field) from None
    # Signed by this service, so well-formed; checked all the same, as anything decoded is.
    if not (
        isinstance(data, dict)
        and data.get("v") == VERSION
        and data.get("d") in {d.value for d in Direction}
        and isinstance(data.get("f"), str)
        and isinstance(data.get("i"), str)
        and 0 < len(data["i"]) <= ID_MAX
        and _is_text(data["i"])
    ):
        raise CursorError("is not a cursor issued by this service", field)
    if data["f"] != fp:
        raise CursorError(
            "belongs to a different list: a cursor only continues the list it came from"
            " (same order_by, query, search and entity)",
            field,
        )
    if data["d"] != direction.value:
        other = Direction(data["d"]).field
        raise CursorError(f"is a {other}; send it as {other}", field)
    if ordering.path == "_id" or "k" not in data:
        return Cursor(direction, Position(data["i"], known=ordering.path == "_id"))
    value = _untag(data["k"], ordering.kind)
    if value is _MISSING:
        raise CursorError("is not a cursor issued by this service", field)
    return Cursor(direction, Position(data["i"], value))


def _encode(payload: dict[str, Any]) -> str:
    return b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())


def _is_text(value: str) -> bool:
    """Whether ``value`` is Unicode text a database can store (no lone surrogates)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _tag(value: Any) -> list[Any]:
    if value is None:
        return ["n"]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, Decimal):
        return ["d", str(value)]
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return ["t", (moment - _EPOCH) // timedelta(milliseconds=1)]
    raise TypeError(f"no cursor encoding for {type(value).__name__}")


def _untag(tagged: Any, kind: Kind) -> Any:
    """The stored value of a tagged one, if its tag fits the field's kind; else ``_MISSING``."""
    if tagged == ["n"]:
        return None
    if not (isinstance(tagged, list) and len(tagged) == 2):
        return _MISSING
    tag, raw = tagged
    if tag == "s" and kind in (Kind.ID, Kind.STRING) and isinstance(raw, str) and _is_text(raw):
        return raw
    if tag == "d" and kind is Kind.NUMBER and isinstance(raw, str):
        try:
            number = Decimal(raw)
            return stored_number(number) if number.is_finite() else _MISSING
        except (InvalidOperation, ArithmeticError, ValueError):
            return _MISSING
    if tag == "t" and kind is Kind.DATE and isinstance(raw, int) and not isinstance(raw, bool):
        try:
            return _EPOCH + timedelta(milliseconds=raw)
        except OverflowError:
            return _MISSING
    return _MISSING


# -- keyset ---------------------------------------------------------------------------------


def keyset_filter(ordering: Ordering, position: Position, *, backwards: bool) -> Filter:
    """Documents strictly after ``position`` in the order of travel (before it, backwards).

    Ascending (nulls first): after a null come the later nulls, then every value; after a
    value, the greater values and the later ties. Descending (nulls last): after a value come
    the smaller values, the later ties, then every null; after a null, only later nulls.
    """
    ascending = ordering.descending == backwards
    after = "$gt" if ascending else "$lt"
    later_id = {after: position.id}
    if ordering.path == "_id":
        return {"_id": later_id}
    path, value = ordering.path, position.value
    ties = {path: {"$eq": value}, "_id": later_id}
    if value is None:
        return {"$or": [ties, {path: {"$ne": None}}]} if ascending else ties
    if ascending:
        # The $gte bound is implied by the $or; it lets the index scan start at the value.
        return {path: {"$gte": value}, "$or": [{path: {"$gt": value}}, ties]}
    return {"$or": [{path: {"$lt": value}}, ties, {path: {"$eq": None}}]}
