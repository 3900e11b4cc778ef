"""Reading what arrives: header values and bodies as plain, JSON-friendly Python values.

Anything may arrive (a dead letter is whatever a client once sent), so nothing here raises:
bytes that are not UTF-8 are replaced, bodies that are not JSON stay text.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def text(value: Any) -> str | None:
    """A header value as text (AMQP long strings arrive as bytes)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def json_or_text(body: bytes) -> Any:
    """A body as JSON if it is JSON, else as text."""
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def jsonable(value: Any) -> Any:
    """A header table (``x-death`` and the like) with bytes and timestamps made JSON-friendly."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime):
        return value.isoformat()
    return value
