"""Error codes and the error body every refusal carries."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "validation_error"
    ENTITY_NOT_FOUND = "entity_not_found"
    TAX_NOT_FOUND = "tax_not_found"
    RESOURCE_ALREADY_EXISTS = "resource_already_exists"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    INVALID_QUERY = "invalid_query"
    INVALID_CURSOR = "invalid_cursor"
    INTERNAL_ERROR = "internal_error"
    UNAUTHENTICATED = "unauthenticated"
    QUERY_TIMEOUT = "query_timeout"
    #: HTTP gateway only: the bus is unreachable, or no reply came in time.
    SERVICE_UNAVAILABLE = "service_unavailable"
    GATEWAY_TIMEOUT = "gateway_timeout"

    @property
    def status(self) -> int:
        return _STATUS[self]

    @property
    def type(self) -> str:
        return _TYPE.get(self, "invalid_request_error")


_STATUS: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.ENTITY_NOT_FOUND: 404,
    ErrorCode.TAX_NOT_FOUND: 422,
    ErrorCode.RESOURCE_ALREADY_EXISTS: 409,
    ErrorCode.IDEMPOTENCY_CONFLICT: 409,
    ErrorCode.INVALID_QUERY: 422,
    ErrorCode.INVALID_CURSOR: 422,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.UNAUTHENTICATED: 401,
    # The service could not answer within its time budget; a narrower request can succeed.
    ErrorCode.QUERY_TIMEOUT: 503,
    # The HTTP gateway could not reach the broker (nothing was sent): retry later.
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    # The HTTP gateway sent the request but no reply came in time: a command may still be
    # carried out, so retry it with the same Idempotency-Key.
    ErrorCode.GATEWAY_TIMEOUT: 504,
}
_TYPE: dict[ErrorCode, str] = {
    ErrorCode.IDEMPOTENCY_CONFLICT: "idempotency_error",
    ErrorCode.INTERNAL_ERROR: "api_error",
    ErrorCode.UNAUTHENTICATED: "authentication_error",
    ErrorCode.QUERY_TIMEOUT: "api_error",
    ErrorCode.SERVICE_UNAVAILABLE: "api_error",
    ErrorCode.GATEWAY_TIMEOUT: "api_error",
}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    loc: list[str | int]
    msg: str


class Error(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    code: ErrorCode
    message: str
    errors: list[ErrorDetail] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """``{"error": {...}}``: the body of every error reply."""

    model_config = ConfigDict(extra="forbid")

    error: Error

    @property
    def status(self) -> int:
        return self.error.code.status


def error_body(code: ErrorCode, message: str, errors: list[ErrorDetail] | None = None) -> ErrorBody:
    return ErrorBody(error=Error(type=code.type, code=code, message=message, errors=errors or []))


class Rejected(BaseModel):
    """Body of a ``<resource>.rejected`` event."""

    model_config = ConfigDict(extra="forbid")

    command_id: str | None
    error: Error


#: What pydantic puts before the text of an exception raised in a validator; the message is
#: the contract's own, so clients see it without pydantic's wording.
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def _message(msg: str) -> str:
    for prefix in _PYDANTIC_PREFIXES:
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def details_from_pydantic(errors: list[Any]) -> list[ErrorDetail]:
    """Turn ``ValidationError.errors()`` into contract error details (no input echo, and no
    "Value error, " prefix before the validators' own messages)."""
    return [
        ErrorDetail(loc=[p for p in e["loc"] if isinstance(p, str | int)], msg=_message(e["msg"]))
        for e in errors
    ]
