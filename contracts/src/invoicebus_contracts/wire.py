"""Decoding and encoding message bodies exactly as the wire contract says.

Bodies are UTF-8 JSON of at most ``limits.MAX_BODY_BYTES``. JSON numbers are read as
``Decimal`` (never binary floats), so ``0.1`` stays exactly ``0.1`` all the way to storage.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from . import limits
from .errors import ErrorBody, ErrorCode, ErrorDetail, details_from_pydantic, error_body

M = TypeVar("M", bound=BaseModel)


class InvalidMessage(Exception):
    """A body that breaks the contract; carries the error body to send back."""

    def __init__(self, body: ErrorBody) -> None:
        super().__init__(body.error.message)
        self.body = body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(body: bytes, *, code: ErrorCode = ErrorCode.VALIDATION_ERROR) -> Any:
    """Bytes → JSON value, refusing oversized, non-UTF-8, non-JSON, NaN/Infinity bodies."""
    if len(body) > limits.MAX_BODY_BYTES:
        raise InvalidMessage(
            error_body(
                code,
                f"body is {len(body)} bytes; the limit is {limits.MAX_BODY_BYTES} bytes",
                [ErrorDetail(loc=["body"], msg="body too large")],
            )
        )
    try:
        text = body.decode("utf-8")
        return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        msg = f"body is not valid UTF-8 (byte {exc.start})"
    except RecursionError:
        msg = "body is nested too deeply"
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        msg = f"body is not valid JSON: {exc}"
    raise InvalidMessage(error_body(code, msg, [ErrorDetail(loc=["body"], msg=msg)]))


def parse(model: type[M], body: bytes, *, code: ErrorCode = ErrorCode.VALIDATION_ERROR) -> M:
    """Decode and validate a body against a contract model, or raise ``InvalidMessage``."""
    data = decode_json(body, code=code)
    if not isinstance(data, dict):
        msg = "body must be a JSON object"
        raise InvalidMessage(error_body(code, msg, [ErrorDetail(loc=["body"], msg=msg)]))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = details_from_pydantic(exc.errors())
        fields = ", ".join(".".join(str(p) for p in d.loc) or "body" for d in details)
        raise InvalidMessage(
            error_body(code, f"invalid {fields}: {details[0].msg}", details)
        ) from None


def encode(model: BaseModel) -> bytes:
    """A contract model → UTF-8 JSON bytes (money as JSON numbers, timestamps with ``Z``)."""
    return model.model_dump_json().encode()
