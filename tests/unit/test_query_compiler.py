"""The query compiler: every operator's MongoDB filter, and every refusal named precisely."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from bson import Decimal128

from invoicebus.adapters.mongo.documents import to_bson
from invoicebus.querying.compiler import OPERATORS, and_, compile_query
from invoicebus.querying.errors import QueryError
from invoicebus.querying.fields import stored_number
from invoicebus_contracts import ErrorCode, Resource
from invoicebus_contracts.limits import QUERY_MAX_BYTES, QUERY_MAX_FIELDS, QUERY_MAX_IN_VALUES

C, ITEM, T, E = Resource.CUSTOMER, Resource.ITEM, Resource.TAX, Resource.ENTITY


def day(y: int, m: int, d: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, second, tzinfo=UTC)


def compiled(query: Any, resource: Resource = C, search: str | None = None) -> dict[str, Any]:
    """The filter as the database receives it (the mongo adapter stores decimals as BSON)."""
    result: dict[str, Any] = to_bson(compile_query(resource, query, search).filter)
    return result


def refused(query: Any, resource: Resource = C, search: str | None = None) -> QueryError:
    with pytest.raises(QueryError) as info:
        compile_query(resource, query, search)
    error = info.value
    body = error.to_body()
    assert body.error.code is ErrorCode.INVALID_QUERY
    assert body.status == 422
    assert body.error.errors[0].loc == error.loc
    return error


# -- values and operators -------------------------------------------------------------------


def test_no_query_is_no_filter() -> None:
    assert compiled(None) == {}
    assert compiled({}) == {}
    assert compiled("") == {}
    assert compiled("  ") == {}
    assert compiled("{}") == {}


def test_direct_value_is_equals() -> None:
    assert compiled({"name": "Acme"}) == {"name": {"$eq": "Acme"}}
    assert compiled({"name": {"equals": "Acme"}}) == {"name": {"$eq": "Acme"}}


def test_id_maps_to_underscore_id() -> None:
    assert compiled({"id": "cust_" + "a" * 24}) == {"_id": {"$eq": "cust_" + "a" * 24}}
    assert compiled({"id": {"in": ["x", "y"]}}) == {"_id": {"$in": ["x", "y"]}}


def test_null_matches_unset_fields_for_equals_in_and_not_in() -> None:
    assert compiled({"email": None}) == {"email": {"$eq": None}}
    assert compiled({"email": {"in": [None, "a@b.co"]}}) == {"email": {"$in": [None, "a@b.co"]}}
    assert compiled({"email": {"notIn": [None]}}) == {"email": {"$nin": [None]}}


@pytest.mark.parametrize(
    ("op", "mongo"), [("gt", "$gt"), ("gte", "$gte"), ("lt", "$lt"), ("lte", "$lte")]
)
def test_comparisons_on_text(op: str, mongo: str) -> None:
    assert compiled({"name": {op: "M"}}) == {"name": {mongo: "M"}}


def test_several_operators_on_one_field_are_anded_in_one_clause() -> None:
    assert compiled({"name": {"gte": "A", "lt": "N"}}) == {"name": {"$gte": "A", "$lt": "N"}}


def test_fields_are_anded_flat() -> None:
    assert compiled({"name": "Acme", "city": {"in": ["Ljubljana", "Maribor"]}}) == {
        "name": {"$eq": "Acme"},
        "city": {"$in": ["Ljubljana", "Maribor"]},
    }


def test_in_and_not_in() -> None:
    assert compiled({"country": {"in": []}}) == {"country": {"$in": []}}
    assert compiled({"country": {"notIn": ["SI", "DE"]}}) == {"country": {"$nin": ["SI", "DE"]}}
    values = [f"v{i}" for i in range(QUERY_MAX_IN_VALUES)]
    assert compiled({"name": {"in": values}}) == {"name": {"$in": values}}


def test_text_operators_are_escaped_case_insensitive_regexes() -> None:
    assert compiled({"name": {"contains": "Acme"}}) == {"name": {"$regex": "Acme", "$options": "i"}}
    assert compiled({"name": {"startsWith": "Ac"}}) == {"name": {"$regex": "^Ac", "$options": "i"}}
    ends = compiled({"name": {"endsWith": "d.o.o."}})["name"]
    assert ends == {"$regex": r"d\.o\.o\.(?![\s\S])", "$options": "i"}


@pytest.mark.parametrize(
    "text", [".*", "(a+)+$", "^", "$where", "[a-z]", "a|b", "\\", "{1,3}", "?", "\n", "x\\d+"]
)
def test_regex_metacharacters_match_literally(text: str) -> None:
    def pattern(op: str) -> str:
        regex: str = compiled({"name": {op: text}})["name"]["$regex"]
        assert regex.removeprefix("^").removesuffix(r"(?![\s\S])") == re.escape(text)
        return regex

    contains, starts, ends = pattern("contains"), pattern("startsWith"), pattern("endsWith")
    assert re.search(contains, f"x{text}y") and not re.search(contains, "plain words")
    assert re.search(starts, f"{text}y") and not re.search(starts, f"x{text}")
    assert re.search(ends, f"x{text}") and not re.search(ends, f"{text}y")
    # '$' alone would also match before a final newline.
    assert text.endswith("\n") or not re.search(ends, f"x{text}\n")


def test_text_operators_work_on_ids_and_metadata() -> None:
    assert compiled({"id": {"startsWith": "cust_6"}}) == {
        "_id": {"$regex": "^cust_6", "$options": "i"}
    }
    assert compiled({"metadata.crm": {"contains": "4"}}) == {
        "metadata.crm": {"$regex": "4", "$options": "i"}
    }


def test_two_text_operators_on_one_field_go_into_and() -> None:
    assert compiled({"name": {"startsWith": "A", "endsWith": "z"}}) == {
        "name": {"$regex": "^A", "$options": "i"},
        "$and": [{"name": {"$regex": r"z(?![\s\S])", "$options": "i"}}],
    }


def test_metadata_keys_are_string_fields() -> None:
    assert compiled({"metadata.category": "services"}, ITEM) == {
        "metadata.category": {"$eq": "services"}
    }
    assert compiled({"metadata.a-b_c 1": {"in": ["x"]}}) == {"metadata.a-b_c 1": {"$in": ["x"]}}


# -- numbers --------------------------------------------------------------------------------


def test_numbers_are_exact_decimal128() -> None:
    assert compiled({"price": 200}, ITEM) == {"price": {"$eq": Decimal128("200")}}
    assert compiled({"price": {"gte": Decimal("0.1")}}, ITEM) == {
        "price": {"$gte": Decimal128("0.1")}
    }
    # From JSON text, fractions are parsed as decimals, never as binary floats.
    assert compiled('{"price": {"lt": 0.1}}', ITEM) == {"price": {"$lt": Decimal128("0.1")}}
    assert compiled({"price": {"lt": 0.1}}, ITEM) == {"price": {"$lt": Decimal128("0.1")}}
    assert compiled({"rate": {"in": [22, Decimal("9.5")]}}, T) == {
        "rate": {"$in": [Decimal128("22"), Decimal128("9.5")]}
    }
    assert compiled({"price": {"between": [10, 20]}}, ITEM) == {
        "price": {"$gte": Decimal128("10"), "$lte": Decimal128("20")}
    }


def test_the_compiler_itself_emits_exact_decimals_and_no_bson() -> None:
    [operand] = compile_query(ITEM, '{"price": {"lt": 0.10}}').filter["price"].values()
    assert type(operand) is Decimal
    assert str(operand) == "0.10"


@pytest.mark.parametrize(
    "text",
    ["0.1", "1E+6144", "1E-6143", "1E-6176", "1E-6177", "9" * 34, "9" * 35, "1" + "0" * 40, "-0"],
)
def test_stored_numbers_are_what_decimal128_holds(text: str) -> None:
    """The compiler's check of numbers agrees with BSON's Decimal128 on its edges."""
    try:
        expected: Decimal | None = Decimal128(Decimal(text)).to_decimal()
    except ArithmeticError:
        expected = None
    try:
        ours: Decimal | None = stored_number(Decimal(text))
    except ArithmeticError:
        ours = None
    assert (ours is None) == (expected is None)
    if ours is not None:
        assert Decimal128(ours) == Decimal128(Decimal(text))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("100", "expected a number, got a string"),
        (True, "expected a number, got a boolean"),
        ({"gte": {"x": 1}}, "expected a number, got an object"),
        ({"gte": [1]}, "expected a number, got an array"),
        ({"gte": None}, "expected a value, got null"),
        ({"gte": Decimal("1E+9999")}, "out of range or too precise"),
        ({"gte": Decimal("1.000000000000000000000000000000000001")}, "too precise"),
        ({"gte": Decimal("NaN")}, "finite"),
        ({"gte": 10**40 + 1}, "too precise"),
    ],
)
def test_wrong_numbers_are_refused(value: Any, message: str) -> None:
    error = refused({"price": value}, ITEM)
    assert message in error.message
    assert error.loc[:2] == ["query", "price"]


# -- dates ----------------------------------------------------------------------------------


def test_date_only_values_cover_whole_days() -> None:
    jan1, jan2 = day(2024, 1, 1), day(2024, 1, 2)
    assert compiled({"created_at": "2024-01-01"}) == {"created_at": {"$gte": jan1, "$lt": jan2}}
    assert compiled({"created_at": {"gte": "2024-01-01"}}) == {"created_at": {"$gte": jan1}}
    assert compiled({"created_at": {"gt": "2024-01-01"}}) == {"created_at": {"$gte": jan2}}
    assert compiled({"created_at": {"lte": "2024-01-01"}}) == {"created_at": {"$lt": jan2}}
    assert compiled({"created_at": {"lt": "2024-01-01"}}) == {"created_at": {"$lt": jan1}}
    assert compiled({"updated_at": {"between": ["2025-01-01", "2025-12-31"]}}) == {
        "updated_at": {"$gte": day(2025, 1, 1), "$lt": day(2026, 1, 1)}
    }


def test_timestamps_are_exact_and_utc() -> None:
    moment = day(2024, 1, 1, 10, 30)
    for text in (
        "2024-01-01T10:30:00.000Z",
        "2024-01-01T10:30:00Z",
        "2024-01-01T10:30Z",
        "2024-01-01T12:30:00+02:00",
        "2024-01-01T10:30:00",  # no offset: UTC
    ):
        assert compiled({"created_at": {"lte": text}}) == {"created_at": {"$lte": moment}}
    assert compiled({"created_at": "2024-01-01T10:30:00.123Z"}) == {
        "created_at": {"$eq": day(2024, 1, 1, 10, 30).replace(microsecond=123000)}
    }


def test_date_membership_expands_days() -> None:
    assert compiled({"created_at": {"in": ["2024-01-01T00:00:00Z"]}}) == {
        "created_at": {"$in": [day(2024, 1, 1)]}
    }
    assert compiled({"created_at": {"in": ["2024-01-01", "2024-02-01T00:00:00Z"]}}) == {
        "$or": [
            {"created_at": {"$gte": day(2024, 1, 1), "$lt": day(2024, 1, 2)}},
            {"created_at": {"$eq": day(2024, 2, 1)}},
        ]
    }
    assert compiled({"created_at": {"notIn": ["2024-01-01"]}}) == {
        "$nor": [{"created_at": {"$gte": day(2024, 1, 1), "$lt": day(2024, 1, 2)}}]
    }


def test_last_representable_day() -> None:
    bound = compiled({"created_at": {"lte": "9999-12-31"}})["created_at"]["$lt"]
    assert bound.year == 9999


@pytest.mark.parametrize(
    "value",
    ["2024-13-01", "2024-02-30", "01/02/2024", "2024-1-1", "20240101", "yesterday", "",
     "2024-01-01T25:00:00Z", "2024-01-01 10:00:00", "2024-01-01T10:00:00+2"],
)  # fmt: skip
def test_bad_dates_are_refused(value: str) -> None:
    error = refused({"created_at": {"gte": value}})
    assert error.loc == ["query", "created_at", "gte"]
    assert "is not a date" in error.message


def test_dates_must_be_strings() -> None:
    assert "got a number" in refused({"created_at": 1704067200}).message


# -- search ---------------------------------------------------------------------------------


def test_search_is_an_escaped_substring_over_the_search_terms_anded_with_query() -> None:
    assert compiled({"name": "Acme"}, search=" d.o.o. ") == {
        "name": {"$eq": "Acme"},
        "_search": {"$regex": r"d\.o\.o\.", "$options": "i"},
    }
    assert compiled(None, search="   ") == {}
    assert compiled(None, search="(a+)+$") == {
        "_search": {"$regex": re.escape("(a+)+$"), "$options": "i"}
    }


def test_search_with_nul_is_refused() -> None:
    assert refused(None, search="a\x00b").loc == ["search"]


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "loc", "message"),
    [
        ({"name": {"$ne": None}}, ["query", "name", "$ne"], "'$' are not allowed"),
        ({"$where": "sleep(1000)"}, ["query", "$where"], "'$' are not allowed"),
        ({"$or": [{"name": "a"}]}, ["query", "$or"], "'$' are not allowed"),
        ({"$expr": {"$eq": [1, 1]}}, ["query", "$expr"], "'$' are not allowed"),
        ({"name": {"$regex": ".*"}}, ["query", "name", "$regex"], "'$' are not allowed"),
        ({"name": {"equals": {"$gt": ""}}}, ["query", "name", "equals"], "got an object"),
        ({"name": {"in": [{"$gt": ""}]}}, ["query", "name", "in", 0], "got an object"),
        ({"metadata.$where": "x"}, ["query", "metadata.$where"], "not a metadata key"),
        ({"metadata.a.b": "x"}, ["query", "metadata.a.b"], "not a metadata key"),
        ({"metadata.": "x"}, ["query", "metadata."], "not a metadata key"),
        ({"metadata." + "k" * 41: "x"}, ["query", "metadata." + "k" * 41], "not a metadata key"),
        ({"metadata": {"a": "b"}}, ["query", "metadata"], "unknown field"),
        ({"password": "x"}, ["query", "password"], "unknown field"),
        ({"entity_id": "ent_1"}, ["query", "entity_id"], "unknown field"),
        ({"_search": "x"}, ["query", "_search"], "unknown field"),
        ({"_idem.key": "x"}, ["query", "_idem.key"], "unknown field"),
        ({"name.first": "x"}, ["query", "name.first"], "unknown field"),
        ({"customer.name": {"contains": "Acme"}}, ["query", "customer.name"], "unknown field"),
        ({"name": {"like": "x"}}, ["query", "name", "like"], "unknown operator"),
        ({"name": {"Equals": "x"}}, ["query", "name", "Equals"], "unknown operator"),
        ({"name": {}}, ["query", "name"], "at least one operator"),
        ({"name": ["a", "b"]}, ["query", "name"], "a list is not a value"),
        ({"name": 5}, ["query", "name"], "expected a string, got a number"),
        ({"name": True}, ["query", "name"], "expected a string, got a boolean"),
        ({"name": {"gt": None}}, ["query", "name", "gt"], "got null"),
        ({"name": {"contains": None}}, ["query", "name", "contains"], "got null"),
        ({"name": {"contains": 5}}, ["query", "name", "contains"], "got a number"),
        ({"name": {"contains": "a\x00"}}, ["query", "name", "contains"], "NUL"),
        ({"name": {"in": "abc"}}, ["query", "name", "in"], "expected an array"),
        ({"name": {"in": [["a"]]}}, ["query", "name", "in", 0], "got an array"),
        ({"name": {"notIn": [1]}}, ["query", "name", "notIn", 0], "got a number"),
        ({"name": {"between": ["a"]}}, ["query", "name", "between"], "exactly two"),
        ({"name": {"between": "a,b"}}, ["query", "name", "between"], "exactly two"),
        ({"name": {"between": ["b", "a"]}}, ["query", "name", "between"], "min is greater"),
        ({"name": {"between": [None, "a"]}}, ["query", "name", "between", 0], "got null"),
        ({"name": {"a": {"b": {"c": {"d": 1}}}}}, ["query", "name", "a"], "unknown operator"),
        ({"name": {"equals": {"a": {"b": 1}}}}, ["query", "name", "equals"], "got an object"),
    ],
)
def test_refusals_name_the_offending_part(query: Any, loc: list[Any], message: str) -> None:
    error = refused(query)
    assert error.loc == loc
    assert message in error.message
    assert error.message.startswith(".".join(map(str, loc)) + ":")
    # The same query as JSON text is refused the same way.
    assert refused(json.dumps(query)).loc == loc


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ({"price": {"contains": "1"}}, ["query", "price", "contains"]),
        ({"created_at": {"startsWith": "2024"}}, ["query", "created_at", "startsWith"]),
        ({"rate": {"endsWith": "5"}}, ["query", "rate", "endsWith"]),
    ],
)
def test_text_operators_only_apply_to_text(query: dict[str, Any], loc: list[str]) -> None:
    resource = T if "rate" in query else ITEM
    assert refused(query, resource).loc == loc


def test_allowed_fields_are_per_resource() -> None:
    assert "fields are: id, name, rate" in refused({"price": 1}, T).message
    assert refused({"metadata.x": "y"}, T).loc == ["query", "metadata.x"]  # taxes: no metadata
    assert refused({"email": "a@b.co"}, E).loc == ["query", "email"]
    assert refused({"description": "x"}, C).loc == ["query", "description"]
    assert compiled({"description": {"contains": "x"}}, ITEM)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "got an array"),
        ('"name"', "got a string"),
        ("42", "got a number"),
        ("null", "got null"),
        ("true", "got a boolean"),
        ("{name: 1}", "not valid JSON"),
        ('{"name": "a"', "not valid JSON"),
        ('{"price": NaN}', "not valid JSON"),
        ('{"price": Infinity}', "not valid JSON"),
        ("[" * 5000 + "]" * 5000, "bytes"),
        ("[" * 3000 + "]" * 3000, "nested too deeply"),
    ],
)
def test_non_object_json_strings_are_refused(text: str, message: str) -> None:
    error = refused(text)
    assert error.loc == ["query"]
    assert message in error.message


def test_size_limits() -> None:
    too_many = {f"metadata.k{i}": "v" for i in range(QUERY_MAX_FIELDS + 1)}
    assert "at most 20" in refused(too_many).message
    assert compiled(dict(list(too_many.items())[:QUERY_MAX_FIELDS]))

    error = refused({"name": {"in": ["x"] * (QUERY_MAX_IN_VALUES + 1)}})
    assert error.loc == ["query", "name", "in"]
    assert f"at most {QUERY_MAX_IN_VALUES}" in error.message

    huge = {"name": {"contains": "x" * QUERY_MAX_BYTES}}
    assert "bytes" in refused(huge).message
    assert "bytes" in refused(json.dumps(huge)).message


def test_no_client_key_ever_reaches_the_filter_as_an_operator() -> None:
    """Whatever is accepted, every '$' key in the filter is one the compiler chose."""
    ours = {"$eq", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex", "$options", "$and",
            "$or", "$nor"}  # fmt: skip

    def keys(value: Any) -> set[str]:
        if isinstance(value, dict):
            return set(value) | {k for v in value.values() for k in keys(v)}
        if isinstance(value, list):
            return {k for v in value for k in keys(v)}
        return set()

    for op in OPERATORS:
        operand: Any = ["$where", "$gt"] if op in ("in", "notIn", "between") else "$where"
        if op == "between":
            operand = ["$a", "$b"]
        dollar_keys = {k for k in keys(compiled({"name": {op: operand}})) if k.startswith("$")}
        assert dollar_keys <= ours


def test_canonical_text_ignores_key_order_and_json_form() -> None:
    a = compile_query(C, {"name": "A", "city": {"in": ["x"]}}, "s")
    b = compile_query(C, '{"city": {"in": ["x"]}, "name": "A"}', " s ")
    assert a.canonical == b.canonical
    assert a.canonical != compile_query(C, {"name": "A"}, "s").canonical
    assert a.canonical != compile_query(C, {"name": "A", "city": {"in": ["x"]}}, None).canonical


def test_and_merges_disjoint_operators_and_nests_collisions() -> None:
    assert and_({"a": {"$gte": 1}}, {"a": {"$lt": 2}}) == {"a": {"$gte": 1, "$lt": 2}}
    assert and_({"a": {"$gte": 1}}, {"a": {"$gte": 2}}) == {
        "a": {"$gte": 1},
        "$and": [{"a": {"$gte": 2}}],
    }
    assert and_({"$or": [{"a": 1}]}, {"$or": [{"b": 1}]}) == {
        "$or": [{"a": 1}],
        "$and": [{"$or": [{"b": 1}]}],
    }
    assert and_({"$and": [{"x": 1}]}, {"$and": [{"y": 1}]}) == {"$and": [{"x": 1}, {"y": 1}]}
    assert and_({"entity_id": "e"}, {}) == {"entity_id": "e"}


@pytest.mark.parametrize(
    "query", [{"name": "\ud800"}, '{"name": "\\ud800"}', {"metadata.\udfff": "x"}, '{"a\ud800": 1}']
)
def test_lone_surrogates_are_refused(query: Any) -> None:
    error = refused(query)
    assert error.loc[:1] == ["query"]  # and, where the decoder finds it, the field
    assert "not valid Unicode" in error.message


@pytest.mark.parametrize(
    ("text", "loc"),
    [
        ('{"price": {"gte": 1e10000000}}', ["query", "price", "gte"]),
        ('{"price": {"in": [1, 1e-10000000]}}', ["query", "price", "in", 1]),
        ('{"price": ' + "9" * 5000 + "}", ["query", "price"]),
    ],
)
def test_huge_numbers_in_a_query_text_are_refused_unread(text: str, loc: list[Any]) -> None:
    error = refused(text, Resource.ITEM)
    assert error.loc == loc
    assert "number out of range" in error.message
