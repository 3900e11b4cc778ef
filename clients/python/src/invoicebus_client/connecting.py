"""Opening a connection to RabbitMQ, and saying in one line why it failed.

A wrong virtual host, refused credentials and an unreachable broker fail differently inside
aiormq (the first even as a protocol error: RabbitMQ closes the connection where aiormq
expects ``Connection.OpenOk``); a user should read which one it is, and what to check.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import aio_pika
from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import (
    AMQPConnectionError,
    ConnectionClosed,
    InvalidFrameError,
    ProbableAuthenticationError,
)

from .defaults import CONNECT_TIMEOUT
from .errors import BrokerRefused, Unavailable
from .urls import redacted


async def connect(url: str, *, wait: float = CONNECT_TIMEOUT) -> AbstractConnection:
    """A connection, or ``Unavailable`` (unreachable) / ``BrokerRefused`` (said no)."""
    try:
        return await aio_pika.connect(url, timeout=wait)
    except (OSError, AMQPConnectionError, InvalidFrameError, TimeoutError) as exc:
        raise connect_error(exc, url) from exc


def connect_error(exc: BaseException, url: str) -> Unavailable:
    """What a failed connection attempt means, as one line (the password left out)."""
    where = f"RabbitMQ at {redacted(url)}"
    parts = urlsplit(url)
    user = unquote(parts.username or "guest")
    if isinstance(exc, ProbableAuthenticationError):
        return BrokerRefused(f"{where} refused the credentials of user {user!r}")
    if isinstance(exc, InvalidFrameError | ConnectionClosed) and (
        "Connection.OpenOk" in str(exc) or "vhost" in str(exc)
    ):
        return BrokerRefused(
            f"{where} refused virtual host {vhost(url)!r}: it does not exist, or user"
            f" {user!r} has no access to it"
        )
    if isinstance(exc, TimeoutError):
        return Unavailable(f"cannot reach {where}: no answer within {CONNECT_TIMEOUT:g}s")
    reason = exc.args[-1] if isinstance(exc, OSError) and exc.args else exc
    return Unavailable(f"cannot reach {where}: {reason}")


def vhost(url: str) -> str:
    """The virtual host a URL names: its path without the leading slash; ``/`` when empty."""
    path = urlsplit(url).path
    return unquote(path[1:]) if len(path) > 1 else "/"
