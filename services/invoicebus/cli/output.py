"""What the CLI prints and how it exits.

Exit codes: 0 success; 1 the service refused the request (4xx) or the input is invalid; 2 no
reply in time, the broker is unreachable or refused us, or a usage error; 3 the service failed
(5xx); 130 interrupted (Ctrl-C).

Errors are one line on stderr, ``invoicebus: ...``; with the global ``--json`` an error body
is printed whole instead, as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import typer

T = TypeVar("T")

EXIT_REFUSED = 1
EXIT_UNAVAILABLE = 2
EXIT_USAGE = 2
EXIT_SERVER_ERROR = 3
EXIT_INTERRUPTED = 130

#: Print error bodies whole (the global ``--json``); set once, by the global options.
_errors_as_json = False


def errors_as_json(enabled: bool) -> None:
    global _errors_as_json
    _errors_as_json = enabled


def emit(value: Any, *, pretty: bool = True) -> None:
    """One result on stdout: indented JSON, or one JSON line (``pretty=False``). A contract
    model prints as its JSON."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    print(json.dumps(value, indent=2 if pretty else None, ensure_ascii=False), flush=True)


def note(message: str) -> None:
    """A line for the user on stderr (progress, summaries), apart from the results."""
    print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    note(f"invoicebus: warning: {message}")


def fail(code: int, message: str | Any) -> NoReturn:
    """A message, or an error body (the contract's JSON), on stderr; exit with ``code``."""
    if isinstance(message, str):
        note(f"invoicebus: {message}")
    elif _errors_as_json:
        note(json.dumps(message, ensure_ascii=False))
    else:
        note(f"invoicebus: {one_line(message)}")
    raise typer.Exit(code)


def one_line(body: Any) -> str:
    """An error body as a line: ``validation_error (422): invalid email: ...``."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return str(body)
    code = str(error.get("code", "error"))
    status = _status(code)
    return f"{code}{f' ({status})' if status else ''}: {error.get('message', '')}"


def invalid(message: str, field: str) -> NoReturn:
    """Refuse the input locally, with the contract's validation error naming ``field``."""
    from invoicebus_contracts import ErrorCode, ErrorDetail, error_body

    body = error_body(ErrorCode.VALIDATION_ERROR, message, [ErrorDetail(loc=[field], msg=message)])
    fail(EXIT_REFUSED, body.model_dump(mode="json"))


def run(
    coro: Coroutine[Any, Any, T],
    *,
    interrupted: Callable[[], str] | None = None,
    interrupt_code: int = EXIT_INTERRUPTED,
) -> T:
    """Run one client call; client errors become exit codes, Ctrl-C exits ``interrupt_code``
    after saying what became of the request (``interrupted``)."""
    from invoicebus_client import ClientError, ErrorReply

    try:
        return asyncio.run(coro)
    except ErrorReply as exc:
        fail(EXIT_SERVER_ERROR if exc.status >= 500 else EXIT_REFUSED, exc.raw)
    except ClientError as exc:
        fail(EXIT_UNAVAILABLE, str(exc))
    except KeyboardInterrupt:
        if interrupted is not None:
            note(f"invoicebus: {interrupted()}")
        raise typer.Exit(interrupt_code) from None


def _status(code: str) -> int | None:
    from invoicebus_contracts import ErrorCode

    try:
        return ErrorCode(code).status
    except ValueError:  # a code newer than this CLI
        return None
