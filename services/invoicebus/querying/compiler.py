"""The list query language: a client's JSON ``query`` and ``search`` → a native MongoDB filter.

Pure (no I/O); the language is documented in docs/query-language.md. ``query`` is an object of
``field: value`` (equals) or ``field: {operator: operand, ...}`` pairs, all ANDed. Everything is
checked before anything is built: an unknown field or operator, an operand of the wrong type, a
``$``-prefixed key, or an oversized query is a ``QueryError`` (``invalid_query``) naming the
offending part. Client values only ever land in operand positions (``$eq``, ``$in``, range
bounds, escaped regular expressions), so no client text can become a MongoDB operator.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from invoicebus_contracts import Resource
from invoicebus_contracts.limits import (
    METADATA_KEY_MAX,
    QUERY_MAX_BYTES,
    QUERY_MAX_FIELDS,
    QUERY_MAX_IN_VALUES,
)
from invoicebus_contracts.wire import UnreadableValue, loads

from ..domain.errors import Loc
from .errors import QueryError
from .fields import FIELDS, SEARCH_PATH, Kind, ResourceFields, storage_path
from .values import Day, json_type, stored_value, text_value

#: A MongoDB filter of plain Python values (numbers as ``Decimal``; the adapter stores them).
Filter = dict[str, Any]

OPERATORS: tuple[str, ...] = (
    "equals", "gte", "lte", "gt", "lt", "in", "notIn", "contains", "startsWith", "endsWith",
    "between",
)  # fmt: skip
TEXT_OPERATORS = frozenset({"contains", "startsWith", "endsWith"})
_TEXT_KINDS = frozenset({Kind.ID, Kind.STRING})
_COMPARISONS = {"equals": "$eq", "gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}

_METADATA_KEY = re.compile(rf"[^.$\x00][^.\x00]{{0,{METADATA_KEY_MAX - 1}}}")
# The very end of the text: '$' would also match just before a final newline.
_END = r"(?![\s\S])"


@dataclass(frozen=True)
class CompiledQuery:
    #: The MongoDB filter of ``query`` AND ``search`` (the entity scope is added by the caller).
    filter: Filter
    #: ``query`` and ``search`` as one canonical text: equal requests give equal texts.
    canonical: str


def compile_query(
    resource: Resource, query: Mapping[str, Any] | str | None, search: str | None = None
) -> CompiledQuery:
    fields = FIELDS[resource]
    conditions = parse_query(query)
    clauses = [_field_clause(fields, key, value) for key, value in conditions.items()]
    text = (search or "").strip()
    if text:
        clauses.append({SEARCH_PATH: _regex("contains", text_value(text, ["search"]))})
    return CompiledQuery(and_(*clauses), canonical_json({"query": conditions, "search": text}))


def parse_query(query: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """The query object, decoded from its JSON text if need be, within the size limits."""
    loc: Loc = ["query"]
    if query is None or (isinstance(query, str) and not query.strip()):
        return {}
    value: Any = query
    if isinstance(query, str):
        _check_size(query, loc)
        try:
            value = loads(query)  # the body's decoder: the same limits on numbers and text
        except RecursionError:
            raise QueryError("is nested too deeply", loc) from None
        except UnreadableValue as exc:
            raise QueryError(exc.detail, [*loc, *exc.loc]) from None
        except ValueError as exc:
            raise QueryError(f"is not valid JSON ({exc})", loc) from None
    if not isinstance(value, dict):
        raise QueryError(f"must be a JSON object of field conditions, got {json_type(value)}", loc)
    try:
        _check_size(canonical_json(value), loc)
    except (RecursionError, TypeError, ValueError):
        raise QueryError("is not a JSON object of field conditions", loc) from None
    if len(value) > QUERY_MAX_FIELDS:
        raise QueryError(f"has {len(value)} fields; at most {QUERY_MAX_FIELDS} are allowed", loc)
    return value


def _check_size(text: str, loc: Loc) -> None:
    try:
        size = len(text.encode())
    except UnicodeEncodeError:  # a lone surrogate, e.g. from a "\ud800" escape
        raise QueryError("is not valid Unicode text", loc) from None
    if size > QUERY_MAX_BYTES:
        raise QueryError(f"is {size} bytes as JSON; the limit is {QUERY_MAX_BYTES} bytes", loc)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def and_(*clauses: Filter) -> Filter:
    """The conjunction of filters, kept flat where no key collides.

    A flat filter (``{"entity_id": ..., "name": {"$gte": ...}}``) is what query planners,
    SecantusDB's in particular, match to a compound index; colliding clauses go into ``$and``.
    """
    merged: Filter = {}
    rest: list[Filter] = []
    for clause in clauses:
        for key, condition in clause.items():
            current: Any = merged.get(key)
            if key not in merged:
                merged[key] = condition
            elif key == "$and":
                merged[key] = [*current, *condition]
            elif (
                _is_operators(current)
                and _is_operators(condition)
                and not current.keys() & condition.keys()
            ):
                merged[key] = {**current, **condition}
            else:
                rest.append({key: condition})
    if rest:
        merged["$and"] = [*merged.get("$and", []), *rest]
    return merged


def _is_operators(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(k.startswith("$") for k in value)


# -- fields ---------------------------------------------------------------------------------


def _field_clause(fields: ResourceFields, key: str, condition: Any) -> Filter:
    loc: Loc = ["query", key]
    path, kind = _resolve_field(fields, key, loc)
    if isinstance(condition, dict):
        if not condition:
            raise QueryError('needs at least one operator, e.g. {"equals": ...}', loc)
        return and_(
            *(
                _operator_clause(path, kind, op, operand, [*loc, op])
                for op, operand in condition.items()
            )
        )
    if isinstance(condition, list):
        raise QueryError('a list is not a value; to match any of several use {"in": [...]}', loc)
    return _operator_clause(path, kind, "equals", condition, loc)


def _resolve_field(fields: ResourceFields, key: str, loc: Loc) -> tuple[str, Kind]:
    """The stored path and kind of a query key, or a ``QueryError`` listing the allowed ones."""
    if key.startswith("$"):
        raise QueryError(
            f"keys starting with '$' are not allowed; fields are: {_allowed(fields)}", loc
        )
    if fields.metadata and key.startswith("metadata."):
        if not _METADATA_KEY.fullmatch(key.removeprefix("metadata.")):
            raise QueryError(
                f"is not a metadata key: 1 to {METADATA_KEY_MAX} characters, no '.',"
                " not starting with '$'",
                loc,
            )
        return key, Kind.STRING
    kind = fields.queryable.get(key)
    if kind is None:
        raise QueryError(f"unknown field; fields are: {_allowed(fields)}", loc)
    return storage_path(key), kind


def _allowed(fields: ResourceFields) -> str:
    names = list(fields.queryable) + (["metadata.<key>"] if fields.metadata else [])
    return ", ".join(names)


# -- operators ------------------------------------------------------------------------------


def _operator_clause(path: str, kind: Kind, op: str, operand: Any, loc: Loc) -> Filter:
    if op.startswith("$"):
        raise QueryError(
            f"keys starting with '$' are not allowed; operators are: {', '.join(OPERATORS)}", loc
        )
    if op not in OPERATORS:
        raise QueryError(f"unknown operator; operators are: {', '.join(OPERATORS)}", loc)
    if op in TEXT_OPERATORS:
        if kind not in _TEXT_KINDS:
            raise QueryError(f"applies to text fields only, and this is a {kind} field", loc)
        return {path: _regex(op, text_value(operand, loc))}
    if op in ("in", "notIn"):
        return _membership(path, kind, op, operand, loc)
    if op == "between":
        low, high = _between(kind, operand, loc)
        return and_(_compare(path, "gte", low), _compare(path, "lte", high))
    return _compare(path, op, stored_value(kind, operand, loc, nullable=op == "equals"))


def _compare(path: str, op: str, value: Any) -> Filter:
    if isinstance(value, Day):  # a date-only value stands for its whole day
        return {
            "equals": {path: {"$gte": value.start, "$lt": value.end}},
            "gt": {path: {"$gte": value.end}},
            "gte": {path: {"$gte": value.start}},
            "lt": {path: {"$lt": value.start}},
            "lte": {path: {"$lt": value.end}},
        }[op]
    return {path: {_COMPARISONS[op]: value}}


def _membership(path: str, kind: Kind, op: str, operand: Any, loc: Loc) -> Filter:
    if not isinstance(operand, list):
        raise QueryError(f"expected an array of values, got {json_type(operand)}", loc)
    if len(operand) > QUERY_MAX_IN_VALUES:
        raise QueryError(
            f"has {len(operand)} values; at most {QUERY_MAX_IN_VALUES} are allowed", loc
        )
    values = [stored_value(kind, v, [*loc, i], nullable=True) for i, v in enumerate(operand)]
    if any(isinstance(v, Day) for v in values):
        days = [_compare(path, "equals", v) for v in values]
        return {"$or": days} if op == "in" else {"$nor": days}
    return {path: {"$in" if op == "in" else "$nin": values}}


def _between(kind: Kind, operand: Any, loc: Loc) -> tuple[Any, Any]:
    if not isinstance(operand, list) or len(operand) != 2:
        raise QueryError("expected [min, max]: an array of exactly two values", loc)
    low, high = (stored_value(kind, v, [*loc, i], nullable=False) for i, v in enumerate(operand))
    if _sort_key(low) > _sort_key(high):
        raise QueryError("min is greater than max", loc)
    return low, high


def _sort_key(value: Any) -> Any:
    if isinstance(value, Day):
        return value.start
    return value


def _regex(op: str, text: str) -> dict[str, str]:
    """A case-insensitive regular expression matching ``text`` literally (escaped)."""
    pattern = re.escape(text)
    if op == "startsWith":
        pattern = "^" + pattern
    elif op == "endsWith":
        pattern += _END
    return {"$regex": pattern, "$options": "i"}
