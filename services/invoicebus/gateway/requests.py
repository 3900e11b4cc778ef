"""What an HTTP request may carry, checked before anything goes on the bus: the body (at most
``MAX_BODY_BYTES``, the contract's own limit, and a JSON object), the ``Idempotency-Key`` and
the ``Authorization`` header. The fields of the body are the services' to check: they own the
contract's validation and name each field at fault."""

from __future__ import annotations

import hashlib
import json
import re

from fastapi import Request

from invoicebus_contracts import ErrorCode, Header
from invoicebus_contracts.limits import MAX_BODY_BYTES

from .errors import Refused

IDEMPOTENCY_KEY = "Idempotency-Key"
#: An AMQP short string holds 255 bytes; a key is printable ASCII without spaces.
IDEMPOTENCY_KEY_MAX = 255
_IDEMPOTENCY_KEY = re.compile(rf"^[\x21-\x7e]{{1,{IDEMPOTENCY_KEY_MAX}}}$")
_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json\s*(?:;.*)?$", re.IGNORECASE)


async def json_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body as sent, if it is a JSON object of at most ``limit`` bytes; ``Refused``
    (``validation_error``, naming the body or the header) otherwise. A body over the limit is
    refused as soon as its ``Content-Length`` (or its first bytes past the limit) says so,
    without reading the rest."""
    content_type = request.headers.get("content-type")
    if content_type is not None and not _JSON_TYPE.match(content_type):
        raise Refused(
            ErrorCode.VALIDATION_ERROR,
            "the body must be JSON: send Content-Type: application/json",
            ["headers", "content-type"],
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        raise Refused(ErrorCode.VALIDATION_ERROR, "the body is not valid JSON", ["body"]) from None
    if not isinstance(parsed, dict):
        raise Refused(ErrorCode.VALIDATION_ERROR, "the body must be a JSON object", ["body"])
    return body


def _too_large(limit: int) -> Refused:
    return Refused(
        ErrorCode.VALIDATION_ERROR, f"the body is larger than the limit of {limit} bytes", ["body"]
    )


def idempotency_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header, which becomes the command's ``message_id``."""
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise Refused(
            ErrorCode.VALIDATION_ERROR,
            f"{IDEMPOTENCY_KEY} must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters"
            " without spaces",
            ["headers", IDEMPOTENCY_KEY],
        )
    return key


def caller_headers(request: Request) -> dict[str, str]:
    """The headers the services act on: ``x-entity-id`` as sent (an empty one too: only an
    absent header means the default entity), and the SHA-256 of the Bearer key, if any. The
    key itself never leaves the gateway."""
    headers: dict[str, str] = {}
    entity = request.headers.get(Header.ENTITY_ID.value)
    if entity is not None:
        headers[Header.ENTITY_ID.value] = entity
    key = bearer_key(request.headers.get("authorization"))
    if key:
        headers[Header.KEY_SHA256.value] = hashlib.sha256(key.encode()).hexdigest()
    return headers


def bearer_key(authorization: str | None) -> str | None:
    """The key of ``Authorization: Bearer <key>``; None for any other header (the services then
    answer 401 when authorization is required)."""
    if not authorization:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None
