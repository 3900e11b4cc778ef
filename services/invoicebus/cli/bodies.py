"""Building a command body from ``--json`` and the options, checked against the contract."""

from __future__ import annotations

import sys
from decimal import Decimal, InvalidOperation
from typing import Any

import typer
from pydantic import BaseModel

from invoicebus_contracts.wire import InvalidMessage, decode_json, parse

from .output import EXIT_REFUSED, fail, invalid


def decimal_option(value: str | None) -> Decimal | None:
    """A number option, kept exact: at most 15 significant digits travel as a JSON number."""
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise typer.BadParameter(f"{value!r} is not a number") from None
    if not number.is_finite() or len(number.as_tuple().digits) > 15:
        raise typer.BadParameter(f"{value!r} must be a finite number of at most 15 digits")
    return number


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, str]:
    """Repeated ``key=value`` options (``--metadata``) as a mapping."""
    result: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint=option)
        result[key] = value
    return result


def load_json(text: str) -> bytes:
    """``--json`` text, or ``-`` for standard input."""
    return sys.stdin.buffer.read() if text == "-" else text.encode()


def command_body(
    model: type[BaseModel], raw_json: str | None, fields: dict[str, Any], *, validate: bool
) -> bytes:
    """The body to send: ``--json`` (if any) with the options laid over it, checked against
    the contract model unless ``validate`` is off (then the service is the judge). A mapping
    option (``--metadata``) adds to the mapping of ``--json`` instead of replacing it."""
    fields = {k: v for k, v in fields.items() if v not in (None, [], {})}
    raw = load_json(raw_json) if raw_json is not None else b"{}"
    if fields or raw_json is None:
        try:
            base = decode_json(raw)
        except InvalidMessage as exc:
            fail(EXIT_REFUSED, exc.body.model_dump(mode="json"))
        if not isinstance(base, dict):
            invalid("--json must be a JSON object", "body")
        for key, value in fields.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                fields[key] = {**base[key], **value}
        from invoicebus_client import encode_body  # numbers stay exact, as the SDK sends them

        raw = encode_body({**base, **fields})
    if validate:
        try:
            parse(model, raw)
        except InvalidMessage as exc:
            fail(EXIT_REFUSED, exc.body.model_dump(mode="json"))
    return raw
