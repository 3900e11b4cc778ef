"""The errors the client raises: every one is a ``ClientError``."""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base of every error the client raises."""


class ErrorReply(ClientError):
    """The service answered with an error status; ``body`` is the contract's error body."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        super().__init__(f"{status}: {message or body}")
        self.status = status
        self.body = body


class NoReply(ClientError):
    """No reply within the timeout (is the service running?)."""


class Unavailable(ClientError):
    """The broker could not be reached, or refused the topology or the message."""
