"""Reading what arrives: header values and bodies as plain, JSON-friendly Python values, and
where a message holds text that is not UTF-8.

Anything may arrive (a dead letter is whatever a client once sent), so nothing here raises:
bytes that are not UTF-8 are shown escaped (``\\xff``, ``invoicebus_contracts.text.shown``),
bodies that are not JSON stay text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from pamqp.commands import Basic

from invoicebus_contracts.fields import format_timestamp
from invoicebus_contracts.text import is_text, shown

#: Where in a message: a property name, or ``"headers"`` and the names (and array positions)
#: down to the header, as in the contract's ``errors[].loc``.
Loc = tuple[str | int, ...]

#: The AMQP short-string properties, as aio-pika names them (``type`` is pamqp's
#: ``message_type``). ``expiration`` is left out: RabbitMQ refuses one that is not a number.
SHORT_STRING_PROPERTIES = tuple(
    "type" if name == "message_type" else name
    for name in Basic.Properties.attributes()
    if Basic.Properties.amqp_type(name) == "shortstr" and name != "expiration"
)


def text(value: Any) -> str | None:
    """A property or header value as text (AMQP long strings that are not UTF-8 arrive as
    bytes, short strings with surrogate escapes)."""
    if value is None:
        return None
    if isinstance(value, str | bytes):
        return shown(value)
    return str(value)


def json_or_text(body: bytes) -> Any:
    """A body as JSON if it is JSON, else as text."""
    try:
        return jsonable(json.loads(body))
    except ValueError:
        return shown(body)


def jsonable(value: Any) -> Any:
    """A header table (``x-death`` and the like) with bytes, text that is not UTF-8,
    timestamps and AMQP decimals made JSON-friendly (a decimal as its exact digits)."""
    if isinstance(value, dict):
        return {shown(str(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, str | bytes):
        return shown(value)
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


def undecodable(message: AbstractIncomingMessage) -> list[Loc]:
    """Where ``message`` holds text that is not UTF-8: short-string properties by name, header
    names (at any depth) as ``("headers", name, ...)``, each name shown escaped. Header values
    are AMQP long strings, binary by definition: those are not listed."""
    found: list[Loc] = [
        (name,)
        for name in SHORT_STRING_PROPERTIES
        if isinstance(value := getattr(message, name, None), str) and not is_text(value)
    ]
    found.extend(_undecodable_names(message.headers or {}, ("headers",)))
    return found


def _undecodable_names(value: Any, loc: Loc) -> Iterator[Loc]:
    if isinstance(value, dict):
        for name, inner in value.items():
            here = (*loc, shown(name))
            if not is_text(name):
                yield here
            yield from _undecodable_names(inner, here)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _undecodable_names(inner, (*loc, index))
