"""What the CLI prints and how it exits.

Exit codes: 0 success; 1 the service refused the request (4xx) or the input is invalid; 2 no
reply in time, the broker is unreachable, or a usage error; 3 the service failed (5xx).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import typer

from invoicebus_client import ClientError, ErrorReply
from invoicebus_contracts.errors import ErrorCode, ErrorDetail, error_body

T = TypeVar("T")

EXIT_REFUSED = 1
EXIT_UNAVAILABLE = 2
EXIT_SERVER_ERROR = 3


def emit(value: Any, *, pretty: bool = True) -> None:
    """One result on stdout: indented JSON, or one JSON line (``pretty=False``)."""
    print(json.dumps(value, indent=2 if pretty else None, ensure_ascii=False), flush=True)


def fail(code: int, message: str | Any) -> NoReturn:
    """A message (or an error body, as JSON) on stderr, and exit with ``code``."""
    text = message if isinstance(message, str) else json.dumps(message, indent=2)
    print(text, file=sys.stderr, flush=True)
    raise typer.Exit(code)


def invalid(message: str, field: str) -> NoReturn:
    """Refuse the input locally, with the contract's validation error naming ``field``."""
    body = error_body(ErrorCode.VALIDATION_ERROR, message, [ErrorDetail(loc=[field], msg=message)])
    fail(EXIT_REFUSED, body.model_dump(mode="json"))


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one client call; client errors become exit codes."""
    try:
        return asyncio.run(coro)
    except ErrorReply as exc:
        fail(EXIT_SERVER_ERROR if exc.status >= 500 else EXIT_REFUSED, exc.body)
    except ClientError as exc:
        fail(EXIT_UNAVAILABLE, f"invoicebus: {exc}")
