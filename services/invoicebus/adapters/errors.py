"""Which failures are transient (wait and retry) rather than a problem with the message."""

from __future__ import annotations

import asyncio

import aiormq.exceptions
from aio_pika.exceptions import AMQPException
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError, WriteConcernError

# Server error codes that mean "not now", not "never" (shutdown, failover, interruption).
_TRANSIENT_CODES = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})


def is_transient(exc: BaseException) -> bool:
    """True for outages of the database or the broker: the command is retried, not refused."""
    if isinstance(exc, ConnectionFailure | WriteConcernError):
        return True
    if isinstance(exc, OperationFailure):
        return exc.code in _TRANSIENT_CODES or exc.has_error_label("RetryableWriteError")
    if isinstance(exc, PyMongoError):
        return exc.has_error_label("RetryableWriteError") or exc.timeout
    return isinstance(
        exc,
        AMQPException
        | aiormq.exceptions.AMQPError
        | ConnectionError
        | TimeoutError
        | asyncio.TimeoutError,
    )
