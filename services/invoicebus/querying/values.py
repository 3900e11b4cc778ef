"""Operands of the query language: JSON values checked and turned into what is stored.

Numbers become exact ``Decimal`` values a decimal128 holds, dates and timestamps become UTC
datetimes (a date alone stands for its whole day), and anything else of the wrong type is a
``QueryError`` naming where it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..domain.errors import Loc
from .errors import QueryError
from .fields import Kind, stored_number

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?")


@dataclass(frozen=True)
class Day:
    """A date-only value: the whole UTC day ``[start, end)``."""

    start: datetime
    end: datetime


def stored_value(kind: Kind, value: Any, loc: Loc, *, nullable: bool) -> Any:
    """A JSON operand as the stored value it is compared with (or a whole ``Day``)."""
    if value is None:
        if nullable:
            return None
        raise QueryError("expected a value, got null", loc)
    if kind is Kind.NUMBER:
        return _number(value, loc)
    if kind is Kind.DATE:
        return _date(value, loc)
    if not isinstance(value, str):
        raise QueryError(f"expected a string, got {json_type(value)}", loc)
    return value


def text_value(value: Any, loc: Loc) -> str:
    if not isinstance(value, str):
        raise QueryError(f"expected a string, got {json_type(value)}", loc)
    if "\x00" in value:
        raise QueryError("must not contain NUL characters", loc)
    return value


def _number(value: Any, loc: Loc) -> Decimal:
    """Money and rates are stored as decimal128: operands are exact decimals it can hold."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise QueryError(f"expected a number, got {json_type(value)}", loc)
    # JSON numbers arrive as int or Decimal; a float (from a Python caller) by its shortest repr.
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not exact.is_finite():
        raise QueryError("expected a finite number", loc)
    try:
        return stored_number(exact)
    except ArithmeticError:  # what a decimal128 can't hold exactly
        raise QueryError("is out of range or too precise for a decimal", loc) from None


def _date(value: Any, loc: Loc) -> datetime | Day:
    if not isinstance(value, str):
        raise QueryError(f"expected a date or timestamp string, got {json_type(value)}", loc)
    try:
        if _DATE.fullmatch(value):
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            try:
                return Day(start, start + timedelta(days=1))
            except OverflowError:  # 9999-12-31
                return Day(start, datetime.max.replace(tzinfo=UTC))
        if _TIMESTAMP.fullmatch(value):
            moment = datetime.fromisoformat(value)
            # A timestamp without an offset is UTC, like every stored timestamp.
            if moment.tzinfo is None:
                return moment.replace(tzinfo=UTC)
            return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    raise QueryError(
        "is not a date (2024-01-31) or an ISO 8601 timestamp (2024-01-31T12:00:00.000Z)", loc
    )


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
