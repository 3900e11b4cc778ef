"""A patch of pamqp, the AMQP 0-9-1 codec under aiormq and aio-pika: a frame whose short strings
are not UTF-8, or whose timestamps are out of range, is decoded instead of killing the
connection that received it.

Why. RabbitMQ passes short strings through unchecked: a client may publish a ``message_id`` of
the bytes ``bad-\\xff\\xfe`` (or such a ``correlation_id``, ``content_type``, ``type``,
``reply_to``, ``app_id``, ``content_encoding``, header name, nested table key or routing key),
and every consumer of that message receives it. pamqp 4.0.1 decodes short strings and
field-table keys with a strict ``.decode('utf-8')``, and a timestamp past the year 9999 with
``datetime.fromtimestamp`` (``ValueError``). Either error becomes aiormq's
``InvalidFrameError``: the connection's reader stops and the connection closes. A robust
connection reconnects, the broker redelivers the same message first, and the connection dies
again; every other unacked message on it is redelivered each time, until the queue's delivery
limit dead-letters them unprocessed. A ``basic.get`` (``invoicebus dlq list``) or a
``basic.return`` of such a message dies the same way. Nothing above pamqp can catch it: the
frame is lost before any callback runs.

What it changes (each replacement calls pamqp's own function first and only takes over where
that one raises, so well-formed frames decode exactly as before):

- ``pamqp.decode.short_str`` (also ``decode.METHODS["shortstr"]``: properties and method fields
  such as ``Basic.Deliver.routing_key``): bytes that are not UTF-8 are decoded with
  ``errors="surrogateescape"``: each undecodable byte becomes a lone surrogate
  (``b"\\xff"`` -> ``"\\udcff"``), which no valid UTF-8 text contains;
- ``pamqp.decode.field_table`` (also ``METHODS["table"]`` and ``TABLE_MAPPING[b"F"]``, so nested
  tables too): field names the same way;
- ``pamqp.decode.timestamp`` (also ``METHODS["timestamp"]`` and ``TABLE_MAPPING[b"T"]``): a
  timestamp ``datetime`` cannot represent decodes as ``None`` (the one lossy case: pamqp
  re-encodes timestamps as whole seconds anyway);
- ``pamqp.encode._string`` (short and long strings) and ``pamqp.encode.field_table`` (field
  names): a surrogate-escaped ``str`` encodes back to its original bytes, so a message that
  arrived with such text is re-published (a dead-letter copy) byte for byte;
- ``pamqp.encode.encode_table_value``: ``bytes`` encode as a long string (``S``). pamqp decodes a
  long string that is not UTF-8 to ``bytes`` but could not encode ``bytes``, so a dead-letter
  copy of a message with such a header value failed.

Readers of these values must treat a ``str`` with surrogates as "not UTF-8":
``invoicebus_contracts.text`` tells and shows them (``\\xff``), and ``decoding.undecodable``
lists where a received message has them.

``install()`` runs when ``invoicebus_client`` is imported, so every process that imports the
SDK (the CLI, the services through ``runtime/broker.py``) decodes leniently before it opens a
connection; it is idempotent. It was checked against the pamqp versions in
``CHECKED_PAMQP_VERSIONS``, whose patched functions have the source digests in
``CHECKED_SOURCES``: ``tests/unit/test_pamqp_patch.py`` fails on any other version or source, and
``install()`` logs a warning at run time. Reported upstream as described in
``docs/upstream/pamqp-non-utf8-short-strings.md``; remove this module once pamqp decodes such
frames itself.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from pamqp import common, decode, encode

log = logging.getLogger(__name__)

#: The pamqp releases this patch was read against and tested with.
CHECKED_PAMQP_VERSIONS = frozenset({"4.0.1"})

#: SHA-256 of the source of each patched pamqp function, as read for CHECKED_PAMQP_VERSIONS.
CHECKED_SOURCES = {
    "decode.short_str": "6f535b7aaa125aec1b41cbcab53368450669e6996c784f1d43fa88ac0a809a9d",
    "decode.field_table": "cd20672a04f9eaa4bd1b5d036f97caa4980f8ae1e690e6a0d104942fcc80565d",
    "decode.timestamp": "64d63c732623d5349553a7b1325034e97df26b95cc2db6b423bc4e4e2c156acc",
    "encode._string": "4def4906b41b5abbce24713fc896fc99b62c40c533cced3ce7f2a878830310c0",
    "encode.field_table": "7c44b8aace14bc3c78774686bd88f55ab6fcb525a4e010de6c15b0daf411ef6e",
    "encode.encode_table_value": "bbfe42da2327c30d3f9d5bb522d853bb238a1d19059fdebb9af2323ea9e86b05",
}

_ESCAPES = "surrogateescape"
#: pamqp's own functions, before the patch (the replacements call them first).
ORIGINALS: dict[str, Callable[..., Any]] = {
    "decode.short_str": decode.short_str,
    "decode.field_table": decode.field_table,
    "decode.timestamp": decode.timestamp,
    "encode._string": encode._string,
    "encode.field_table": encode.field_table,
    "encode.encode_table_value": encode.encode_table_value,
}
_FIELD_NAME_MAX_BYTES = 128  # pamqp truncates longer field names (encode.field_table)


def installed() -> bool:
    """Whether pamqp in this process decodes with this patch."""
    return decode.METHODS.get("shortstr") is _decode_short_str


def install() -> None:
    """Patch pamqp in this process (again is a no-op)."""
    if installed():
        return
    found = version("pamqp")
    if found not in CHECKED_PAMQP_VERSIONS:
        log.warning(
            "pamqp %s: invoicebus_client.pamqp_patch was checked against %s only",
            found,
            ", ".join(sorted(CHECKED_PAMQP_VERSIONS)),
        )
    # Module attributes for callers by name, table entries for pamqp's own dispatch.
    for module, name, replacement in _REPLACEMENTS:
        setattr(module, name, replacement)
    decode.METHODS["shortstr"] = _decode_short_str
    decode.METHODS["table"] = decode.TABLE_MAPPING[b"F"] = _decode_field_table
    decode.METHODS["timestamp"] = decode.TABLE_MAPPING[b"T"] = _decode_timestamp
    encode.METHODS["table"] = _encode_field_table


# -- decoding --------------------------------------------------------------------------------


def _decode_short_str(value: bytes) -> tuple[int, str]:
    try:
        result: tuple[int, str] = ORIGINALS["decode.short_str"](value)
        return result
    except UnicodeDecodeError:  # the length byte was read, so it is there
        length = value[0]
        return length + 1, value[1 : length + 1].decode("utf-8", _ESCAPES)


def _decode_field_table(value: bytes) -> tuple[int, common.FieldTable]:
    try:
        result: tuple[int, common.FieldTable] = ORIGINALS["decode.field_table"](value)
        return result
    except UnicodeDecodeError:  # a field name is not UTF-8 (nested tables come here themselves)
        return _field_table_escaping_names(value)


def _field_table_escaping_names(value: bytes) -> tuple[int, common.FieldTable]:
    """pamqp 4.0.1's ``decode.field_table``, with field names decoded with surrogate escapes."""
    length = common.Struct.integer.unpack(value[0:4])[0]
    offset = 4
    data: common.FieldTable = {}
    end = offset + length
    if end > len(value):
        raise ValueError("Field table length exceeds available data")
    while offset < end:
        key_length = common.Struct.byte.unpack_from(value, offset)[0]
        offset += 1
        if offset + key_length > end:
            raise ValueError("Field table key length exceeds data")
        key = value[offset : offset + key_length].decode("utf-8", _ESCAPES)
        offset += key_length
        consumed, result = decode.embedded_value(value[offset:])
        offset += consumed
        data[key] = result
    return end, data


def _decode_timestamp(value: bytes) -> tuple[int, datetime.datetime | None]:
    try:
        result: tuple[int, datetime.datetime] = ORIGINALS["decode.timestamp"](value)
        return result
    except (ValueError, OverflowError, OSError):
        if len(value) < common.Struct.timestamp.size:
            raise  # truncated: a broken frame, not an odd value
        return common.Struct.timestamp.size, None  # past what datetime can hold


# -- encoding --------------------------------------------------------------------------------


def _encode_string(encoder: Any, value: str) -> bytes:
    try:
        result: bytes = ORIGINALS["encode._string"](encoder, value)
        return result
    except UnicodeEncodeError:  # surrogate escapes: the bytes the text was decoded from
        raw = value.encode("utf-8", _ESCAPES)
        limit = 255 if encoder is common.Struct.byte else 4294967295
        if len(raw) > limit:
            raise TypeError(f"string exceeds maximum length of {limit} bytes") from None
        packed: bytes = encoder.pack(len(raw))
        return packed + raw


def _encode_field_table(value: common.FieldTable) -> bytes:
    try:
        result: bytes = ORIGINALS["encode.field_table"](value)
        return result
    except UnicodeEncodeError:  # a field name with surrogate escapes
        return _field_table_with_raw_names(value)


def _field_table_with_raw_names(value: common.FieldTable) -> bytes:
    """pamqp 4.0.1's ``encode.field_table``, with field names encoded with surrogate escapes."""
    data = []
    for key, item in sorted(value.items()):
        raw = key.encode("utf-8", _ESCAPES)[:_FIELD_NAME_MAX_BYTES]
        data.append(encode.short_string(raw.decode("utf-8", _ESCAPES)))
        try:
            data.append(encode.encode_table_value(item))
        except TypeError as err:
            raise TypeError(f"{key!r} error: {err}") from err
    output = b"".join(data)
    packed: bytes = common.Struct.integer.pack(len(output))
    return packed + output


def _encode_table_value(value: Any) -> bytes:
    if isinstance(value, bytes):  # what pamqp decodes a long string that is not UTF-8 to
        if len(value) > 4294967295:
            raise TypeError("string exceeds maximum length of 4294967295 bytes")
        packed: bytes = common.Struct.integer.pack(len(value))
        return b"S" + packed + value
    result: bytes = ORIGINALS["encode.encode_table_value"](value)
    return result


_REPLACEMENTS = (
    (decode, "short_str", _decode_short_str),
    (decode, "field_table", _decode_field_table),
    (decode, "timestamp", _decode_timestamp),
    (encode, "_string", _encode_string),  # short_string and long_string call it
    (encode, "field_table", _encode_field_table),
    (encode, "encode_table_value", _encode_table_value),
)
