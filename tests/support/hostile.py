"""Hostile input for the property-based bad-input suite (tests/integration/test_bad_input.py):
Hypothesis strategies of bodies, headers and cursors, and what a clear refusal looks like."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel

from invoicebus_contracts import ErrorCode, Header, limits
from invoicebus_contracts.text import is_text, shown
from tests.support.amqp import Reply

ERROR_CODES = {code.value for code in ErrorCode}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def encoded(value: Any) -> bytes:
    return json.dumps(value).encode()


def bodies(model: type[BaseModel], valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Bodies for ``model``: arbitrary JSON, its own fields with arbitrary (mostly wrong)
    types, a valid body with one or two fields changed, huge strings, deep nesting, invalid
    UTF-8, random bytes, oversized bodies."""
    fields = st.sampled_from(sorted(model.model_fields))
    field_names = fields | st.text(max_size=12)
    return st.one_of(
        json_values.map(encoded),
        st.dictionaries(fields, json_values, max_size=2).map(lambda d: encoded({**valid, **d})),
        st.dictionaries(field_names, json_values, max_size=6).map(encoded),
        st.tuples(fields, st.integers(min_value=limits.NAME_MAX, max_value=60_000)).map(
            lambda f: encoded({f[0]: "x" * f[1]})
        ),
        st.integers(min_value=50, max_value=100_000).map(
            lambda depth: b'{"name": ' + b"[" * depth + b"]" * depth + b"}"
        ),
        st.binary(min_size=1, max_size=30).map(lambda raw: b'{"name": "\xff' + raw + b'"}'),
        st.binary(max_size=200),
        st.integers(min_value=limits.MAX_BODY_BYTES + 1, max_value=3 * limits.MAX_BODY_BYTES).map(
            lambda size: b'{"name": "' + b"a" * size + b'"}'
        ),
    )


# -- crafted values (issue 9) ------------------------------------------------------------------

#: Numbers a JSON parser accepts and nothing should convert: huge exponents and digit counts.
huge_numbers = st.one_of(
    st.integers(limits.NUMBER_MAX_EXPONENT + 1, 10**9).map(lambda e: f"1e{e}".encode()),
    st.integers(limits.NUMBER_MAX_EXPONENT + 1, 10**9).map(lambda e: f"-2.5E-{e}".encode()),
    st.integers(limits.NUMBER_MAX_CHARS + 1, 20_000).map(lambda n: b"9" * n),
    st.integers(limits.NUMBER_MAX_CHARS, 20_000).map(lambda n: b"0." + b"1" * n),
)
#: Text that is not Unicode: a lone surrogate, as JSON escapes it.
lone_surrogates = st.integers(0xD800, 0xDFFF).map(lambda c: f"\\u{c:04x}".encode())
#: Metadata keys with NUL, where a database field name ends.
nul_keys = st.tuples(st.text(max_size=5), st.text(max_size=5)).map(lambda t: f"{t[0]}\0{t[1]}")


def spliced(valid: dict[str, Any], field: str, raw: bytes) -> bytes:
    """``valid`` with ``field`` set to the raw JSON text ``raw`` (a number or a string)."""
    rest = {k: v for k, v in valid.items() if k != field}
    head = json.dumps(rest)[:-1] + (", " if rest else "")
    return head.encode() + json.dumps(field).encode() + b": " + raw + b"}"


def crafted_bodies(model: type[BaseModel], valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """A valid body with one field a huge number or a lone surrogate, or metadata with a NUL
    key (where the model has metadata)."""
    fields = st.sampled_from(sorted(model.model_fields))
    strings = lone_surrogates.map(lambda s: b'"x' + s + b'"')
    options = [
        st.tuples(fields, huge_numbers).map(lambda f: spliced(valid, *f)),
        st.tuples(fields, strings).map(lambda f: spliced(valid, *f)),
    ]
    if "metadata" in model.model_fields:
        options.append(nul_keys.map(lambda key: encoded({**valid, "metadata": {key: "v"}})))
    return st.one_of(*options)


#: list request fields, each with values of every JSON type but its own (item 7).
WRONG_TYPES: dict[str, st.SearchStrategy[Any]] = {
    "limit": st.one_of(
        st.text(max_size=5), st.booleans(), st.floats(allow_nan=False, allow_infinity=False)
    ),
    "include_total_count": st.one_of(st.integers(), st.text(max_size=5), st.floats(0, 1)),
    "search": st.one_of(st.integers(), st.booleans(), st.lists(st.text(max_size=3), max_size=2)),
    "order_by": st.one_of(st.integers(), st.booleans(), st.lists(st.text(max_size=3), max_size=2)),
    "next_cursor": st.one_of(st.integers(), st.booleans(), st.dictionaries(st.text(), st.text())),
}
wrong_typed_requests = st.sampled_from(sorted(WRONG_TYPES)).flatmap(
    lambda field: WRONG_TYPES[field].map(lambda value: (field, value))
)
list_crafted_bodies = st.one_of(
    wrong_typed_requests.map(lambda fv: encoded({fv[0]: fv[1]})),
    huge_numbers.map(lambda n: spliced({}, "limit", n)),
    huge_numbers.map(lambda n: b'{"query": {"price": {"gte": ' + n + b"}}}"),
    lone_surrogates.map(lambda s: b'{"search": "' + s + b'"}'),
    lone_surrogates.map(lambda s: b'{"query": {"name": "' + s + b'"}}'),
)

#: x-entity-id values that are present but not an entity id string (item 6); AMQP field-table
#: types: strings, numbers, booleans, void, arrays, tables, decimals.
odd_headers = st.one_of(
    st.just(""),
    st.text(max_size=30),
    st.integers(-(2**31), 2**31 - 1),
    st.booleans(),
    st.none(),
    st.floats(width=32, allow_nan=False, allow_infinity=False),  # AMQP's float is 32 bits
    st.lists(st.text(max_size=30), max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=3),
    st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False),
)


def forged_cursors(genuine: str) -> st.SearchStrategy[str]:
    """Cursors the service did not issue, starting from a genuine one (item 5): one character
    changed, the payload edited and re-encoded, the signature dropped or made up, or text."""
    payload, signature = genuine.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

    def edit(changes: dict[str, Any]) -> str:
        text = json.dumps({**data, **changes}).encode()
        return base64.urlsafe_b64encode(text).decode().rstrip("=") + "." + signature

    def flip(index: int) -> str:
        i = index % len(genuine)
        char = "A" if genuine[i] != "A" else "B"
        return genuine[:i] + char + genuine[i + 1 :]

    return st.one_of(
        st.integers(0, len(genuine) - 1).filter(lambda i: genuine[i] != ".").map(flip),
        st.dictionaries(st.sampled_from(["i", "k", "f", "d", "v"]), json_values, min_size=1).map(
            edit
        ),
        st.just(payload),
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        .filter(lambda s: s != signature)
        .map(lambda s: f"{payload}.{s}"),
        st.text(min_size=1, max_size=60),  # (an empty cursor is no cursor: the first page)
    )


def assert_clear_error(reply: Reply, *, allowed: set[int]) -> None:
    """An error reply with the contract's shape, naming where the problem is."""
    assert reply.status in allowed, (reply.status, reply.body)
    assert set(reply.body) == {"error"}, reply.body
    error = reply.body["error"]
    assert set(error) == {"type", "code", "message", "errors"}, error
    assert error["code"] in ERROR_CODES and ErrorCode(error["code"]).status == reply.status
    assert isinstance(error["message"], str) and error["message"], error
    for detail in error["errors"]:
        assert isinstance(detail["loc"], list) and isinstance(detail["msg"], str), detail
    if error["code"] in {"validation_error", "invalid_query"}:
        assert error["errors"], error
        named = error["errors"][0]["loc"][:1]
        assert not named or str(named[0]) in error["message"], error  # names the field


# -- poison frames: AMQP short strings that are not UTF-8 ------------------------------------

#: Any bytes, as the text pamqp (patched, here too) decodes them to and publishes them as.
short_strings = st.binary(min_size=1, max_size=16).map(
    lambda raw: raw.decode("utf-8", "surrogateescape")
)
header_names = short_strings.filter(lambda name: name != Header.ENTITY_ID.value)
poisoned_properties = st.fixed_dictionaries(
    {},
    optional={
        name: short_strings
        for name in ("message_id", "correlation_id", "content_type", "type", "app_id")
    }
    | {
        "headers": st.dictionaries(
            header_names,
            st.integers(0, 9) | st.dictionaries(header_names, st.booleans(), max_size=1),
            max_size=2,  # at most 9 places in all: the refusal names the first 10
        )
    },
)


def undecodable_locs(properties: dict[str, Any]) -> list[list[str]]:
    """Where ``properties`` hold text that is not UTF-8, as the services name it."""
    found = [[n] for n, v in properties.items() if isinstance(v, str) and not is_text(v)]
    for name, value in properties.get("headers", {}).items():
        if not is_text(name):
            found.append(["headers", shown(name)])
        if isinstance(value, dict):
            found += [["headers", shown(name), shown(k)] for k in value if not is_text(k)]
    return found
