"""The errors the client raises: every one is a ``ClientError``.

- ``ErrorReply``: the service answered, and refused (4xx) or failed (5xx); it carries the
  contract's ``ErrorBody``.
- ``NoReply``: nobody answered in time (no service running, or it is overloaded).
- ``Unavailable``: the broker could not be reached, or dropped the connection, after retries.
- ``BrokerRefused`` (an ``Unavailable``): the broker answered but said no (credentials, virtual
  host, a missing exchange, a message no queue takes); retrying the same thing cannot help.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from invoicebus_contracts import Error, ErrorBody, ErrorDetail


class ClientError(Exception):
    """Base of every error the client raises."""


class ErrorReply(ClientError):
    """The service answered with an error status.

    ``body`` is the contract's ``ErrorBody``. A body this client cannot validate (an error code
    newer than this version of the contracts, for one) is still an ``ErrorBody``, built as it
    came: then ``body.error.code`` holds the code as a plain string. ``raw`` is the JSON as
    received, always.
    """

    def __init__(self, status: int, raw: bytes | Any) -> None:
        self.status = status
        self.raw: Any = _json(raw) if isinstance(raw, bytes) else raw
        self.body = _error_body(status, self.raw)
        super().__init__(f"{status} {self.code}: {self.message}")

    @property
    def code(self) -> str:
        """The machine-readable reason, e.g. ``validation_error``."""
        return str(self.body.error.code)

    @property
    def message(self) -> str:
        return self.body.error.message

    @property
    def errors(self) -> list[ErrorDetail]:
        """The fields at fault, each with its path (``loc``) and what is wrong (``msg``)."""
        return self.body.error.errors


class NoReply(ClientError):
    """No reply within the timeout (is the service running?)."""


class Unavailable(ClientError):
    """The broker could not be reached, or did not take the message, after retries."""


class BrokerRefused(Unavailable):
    """The broker refused the connection (credentials, virtual host) or an operation (a missing
    exchange or queue, no permission, a message no queue takes): not worth retrying."""


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _error_body(status: int, raw: Any) -> ErrorBody:
    try:
        return ErrorBody.model_validate(raw)
    except ValidationError:
        pass
    inner = raw.get("error") if isinstance(raw, dict) else None
    if not isinstance(inner, dict):
        inner = {"message": str(raw)[:1000]}
    # Built as received, unvalidated: the code may be one this client does not know yet.
    error = Error.model_construct(
        type=str(inner.get("type", "api_error" if status >= 500 else "invalid_request_error")),
        code=str(inner.get("code", "unknown")),  # type: ignore[arg-type]
        message=str(inner.get("message", "")),
        errors=[],
    )
    return ErrorBody.model_construct(error=error)
