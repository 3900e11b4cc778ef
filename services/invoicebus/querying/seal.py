"""Signing cursors, so that a client can hand back only what the service gave it (pure).

A cursor is data the service trusts when it comes back: a position to continue a list from.
Signed with a secret only the service knows (HMAC-SHA256, truncated to 128 bits), a forged
cursor, or a genuine one with a single bit changed, is refused before anything in it is read.
Every replica of the query service must share the secret (``INVOICEBUS_CURSOR_SECRET``), and
cursors stay valid across restarts as long as it does not change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

#: Bytes of the HMAC a cursor carries: 128 bits, 22 characters of base64url.
SIGNATURE_BYTES = 16


def b64(raw: bytes) -> str:
    """Unpadded base64url: the alphabet of cursors (no ``.``, which separates the signature)."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class Seal:
    """The server's secret key: signs payloads and checks the signatures of tokens."""

    key: bytes

    def sign(self, payload: str) -> str:
        """``payload.signature``: the payload (base64url text) with its signature appended."""
        return f"{payload}.{b64(self._mac(payload))}"

    def open(self, token: str) -> str | None:
        """The payload of a token this key signed, or None for any other token."""
        payload, dot, signature = token.rpartition(".")
        if not dot or not (payload.isascii() and signature.isascii()):
            return None
        if not hmac.compare_digest(signature, b64(self._mac(payload))):
            return None
        return payload

    def _mac(self, payload: str) -> bytes:
        return hmac.new(self.key, payload.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES]
