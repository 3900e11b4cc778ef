"""The pamqp patch of the SDK (``invoicebus_client.pamqp_patch``): pinned to the pamqp it was
checked against, installed in every process that speaks AMQP for the project, and decoding the
frames RabbitMQ really sends (raw bytes, not frames of its own encoder) without loss."""

from __future__ import annotations

import datetime
import hashlib
import inspect
import struct
import subprocess
import sys
from importlib.metadata import version
from typing import Any

import pytest
from pamqp import commands, decode, encode, frame, header

from invoicebus_client import pamqp_patch


def test_pamqp_is_a_version_the_patch_was_checked_against() -> None:
    found = version("pamqp")
    assert found in pamqp_patch.CHECKED_PAMQP_VERSIONS, (
        f"pamqp {found} is not one invoicebus_client.pamqp_patch was checked against: read the"
        " functions it replaces in the new version (does it still decode short strings strictly?"
        " see docs/upstream/pamqp-non-utf8-short-strings.md), then update CHECKED_PAMQP_VERSIONS"
        " and CHECKED_SOURCES, or remove the patch if upstream fixed it"
    )


@pytest.mark.parametrize("name", sorted(pamqp_patch.CHECKED_SOURCES))
def test_the_patched_pamqp_functions_are_the_ones_that_were_read(name: str) -> None:
    source = inspect.getsource(pamqp_patch.ORIGINALS[name])
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert digest == pamqp_patch.CHECKED_SOURCES[name], (
        f"pamqp.{name} changed since invoicebus_client.pamqp_patch was written: check that the"
        " replacement still matches it (and whether the fix landed upstream), then update"
        f" CHECKED_SOURCES[{name!r}] to {digest}"
    )


def test_it_is_installed_once_and_keeps_the_originals() -> None:
    assert pamqp_patch.installed()
    pamqp_patch.install()  # again: nothing changes
    replaced = {f.__module__ for f in pamqp_patch.ORIGINALS.values()}
    assert replaced == {"pamqp.decode", "pamqp.encode"}
    assert decode.short_str is not pamqp_patch.ORIGINALS["decode.short_str"]
    assert decode.METHODS["shortstr"] is decode.short_str
    assert decode.TABLE_MAPPING[b"F"] is decode.METHODS["table"] is decode.field_table
    assert decode.TABLE_MAPPING[b"T"] is decode.METHODS["timestamp"] is decode.timestamp
    assert encode.METHODS["table"] is encode.field_table


@pytest.mark.parametrize(
    "start",
    [
        "import invoicebus_client",
        "import invoicebus.commands.app",
        "import invoicebus.queries.app",
        # The CLI loads the SDK only when a command makes its client (--help stays light).
        "from invoicebus.cli.context import Context; Context(None, None, None).client()",
    ],
)
def test_every_process_that_speaks_amqp_decodes_leniently_once_it_imports(start: str) -> None:
    # A fresh interpreter: the services (through runtime/broker.py), the CLI and any user of
    # the SDK are patched by their own imports, before they can connect.
    code = (
        f"{start}\n"
        "from pamqp import decode\n"
        r"print(ascii(decode.by_type(b'\x03k\xff\xfe', 'shortstr')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == r"(4, 'k\udcff\udcfe')"


# -- frames as RabbitMQ sends them -----------------------------------------------------------


def content_header_frame(properties: commands.Basic.Properties) -> bytes:
    return frame.marshal(header.ContentHeader(0, 2, properties), channel_id=1)


def swap(raw: bytes, placeholder: bytes, replacement: bytes) -> bytes:
    """Bytes of a frame with ``placeholder`` replaced (same length, so lengths stay right)."""
    assert len(placeholder) == len(replacement) and raw.count(placeholder) == 1
    return raw.replace(placeholder, replacement)


def test_a_content_header_with_bytes_that_are_not_utf8_decodes_and_encodes_back_exactly() -> None:
    clean = commands.Basic.Properties(
        message_id="bad-XX",
        correlation_id="cor-X",
        content_type="application/jsonX",
        message_type="YY",
        reply_to="r-X",
        app_id="a-X",
        headers={"kX": "v", "t": {"nX": 1}, "a": [{"mX": "w"}]},
    )
    raw = content_header_frame(clean)
    for placeholder, replacement in [
        (b"bad-XX", b"bad-\xff\xfe"),
        (b"cor-X", b"cor-\xff"),
        (b"application/jsonX", b"application/json\xff"),
        (b"YY", b"\xc0\xaf"),
        (b"r-X", b"r-\xff"),
        (b"a-X", b"a-\xff"),
        (b"kX", b"k\xff"),
        (b"nX", b"n\xff"),
        (b"mX", b"m\xff"),
    ]:
        raw = swap(raw, placeholder, replacement)

    with pytest.raises(UnicodeDecodeError):  # what pamqp alone does with it
        pamqp_patch.ORIGINALS["decode.short_str"](b"\x02\xff\xfe")
    consumed, _, decoded = frame.unmarshal(raw)
    assert consumed == len(raw) and isinstance(decoded, header.ContentHeader)
    properties = decoded.properties
    escape = "\udcff"
    assert properties.message_id == "bad-\udcff\udcfe"
    assert properties.correlation_id == f"cor-{escape}"
    assert properties.content_type == f"application/json{escape}"
    assert properties.message_type == "\udcc0\udcaf"
    assert properties.reply_to == f"r-{escape}"
    assert properties.app_id == f"a-{escape}"
    assert properties.headers == {
        f"k{escape}": "v",
        "t": {f"n{escape}": 1},
        "a": [{f"m{escape}": "w"}],
    }
    # Encoded again (a dead-letter copy), it is the same bytes.
    assert content_header_frame(properties) == raw


def test_a_routing_key_that_is_not_utf8_in_basic_deliver_decodes() -> None:
    deliver = commands.Basic.Deliver("ctag", 1, False, "ex", "rk-XX")
    raw = swap(frame.marshal(deliver, channel_id=1), b"rk-XX", b"rk-\xff\xfe")
    _, _, decoded = frame.unmarshal(raw)
    assert isinstance(decoded, commands.Basic.Deliver)
    assert decoded.routing_key == "rk-\udcff\udcfe"


def test_a_long_string_that_is_not_utf8_stays_bytes_and_encodes_back() -> None:
    table: Any = {"k": b"\xff\xfe"}  # pamqp types tables without bytes, which it decodes
    encoded = encode.field_table(table)
    assert encoded == struct.pack(">I", 9) + b"\x01kS" + struct.pack(">I", 2) + b"\xff\xfe"
    assert decode.field_table(encoded) == (len(encoded), table)


def test_a_timestamp_past_what_datetime_holds_decodes_as_none() -> None:
    huge = struct.pack(">Q", 2**63)
    with pytest.raises(ValueError, match="out of range"):
        pamqp_patch.ORIGINALS["decode.timestamp"](huge)
    when = datetime.datetime(2001, 2, 3, tzinfo=datetime.UTC)
    properties = commands.Basic.Properties(message_id="m", timestamp=when, headers={"t": when})
    raw = content_header_frame(properties)
    seconds = struct.pack(">Q", int(when.timestamp()))
    assert raw.count(seconds) == 2
    _, _, decoded = frame.unmarshal(raw.replace(seconds, huge))
    assert isinstance(decoded, header.ContentHeader)
    assert decoded.properties.message_id == "m"
    assert decoded.properties.timestamp is None
    assert decoded.properties.headers == {"t": None}


def test_broken_frames_are_still_refused() -> None:
    with pytest.raises(ValueError, match="Could not unpack timestamp"):
        decode.timestamp(b"\x00\x01")  # truncated
    with pytest.raises(ValueError, match="exceeds available data"):
        decode.field_table(struct.pack(">I", 50) + b"\x02k\xff")  # longer than the data
    with pytest.raises(UnicodeEncodeError):
        encode.short_string("\ud800")  # a lone surrogate that escapes no byte
