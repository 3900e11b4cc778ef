"""The contract's error body for every refusal the gateway makes itself (a reply from a
service is passed on as it came): the HTTP status is always the error code's status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from invoicebus_contracts import ErrorBody, ErrorCode, ErrorDetail, error_body

#: The challenge a 401 carries (RFC 6750).
BEARER_CHALLENGE = {"www-authenticate": 'Bearer realm="invoicebus"'}


class Refused(Exception):
    """A request refused by the gateway before anything was sent."""

    def __init__(self, code: ErrorCode, message: str, loc: Sequence[str | int] = ()) -> None:
        super().__init__(message)
        self.body = error_body(
            code, message, [ErrorDetail(loc=list(loc), msg=message)] if loc else []
        )


def error_response(body: ErrorBody, headers: dict[str, str] | None = None) -> Response:
    return json_response(body.status, body.model_dump_json().encode(), headers)


def json_response(status: int, content: bytes, headers: dict[str, str] | None = None) -> Response:
    """A JSON response as the bytes are: no re-encoding of a service's reply."""
    if status == ErrorCode.UNAUTHENTICATED.status:
        headers = {**BEARER_CHALLENGE, **(headers or {})}
    return Response(content, status_code=status, media_type="application/json", headers=headers)


async def on_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return error_response(exc.body)


async def on_invalid_parameters(request: Request, exc: Exception) -> Response:
    """FastAPI's own validation errors, in the contract's body (never FastAPI's shape), naming
    each parameter (``["query", "limit"]``) without echoing its value."""
    assert isinstance(exc, RequestValidationError)
    details = [_detail(error) for error in exc.errors()]
    names = ", ".join(str(d.loc[-1]) for d in details if d.loc)
    message = f"invalid parameter: {names}" if names else "invalid request"
    return error_response(error_body(ErrorCode.VALIDATION_ERROR, message, details))


def _detail(error: dict[str, Any]) -> ErrorDetail:
    loc = [part for part in error.get("loc", ()) if isinstance(part, str | int)]
    return ErrorDetail(loc=loc, msg=str(error.get("msg", "invalid")))
