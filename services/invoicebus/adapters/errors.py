"""Which failures are transient (wait and retry) rather than a problem with the message."""

from __future__ import annotations

import aiormq.exceptions
from faststream.exceptions import IncorrectState
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError, WriteConcernError

# Server error codes that mean "not now", not "never": shutdown, failover, interruption,
# network trouble between servers, time limits.
_TRANSIENT_CODES = frozenset(
    {6, 7, 50, 89, 91, 133, 189, 202, 262, 9001, 10107, 11600, 11602, 13435, 13436}
)
_TRANSIENT_LABELS = ("RetryableWriteError", "TransientTransactionError")

# Broker side: any AMQP error (connection or channel lost, publish nacked), a channel used
# while aio-pika is reconnecting it (ChannelInvalidStateError is a RuntimeError, not an
# AMQPError), and FastStream's "not connected" while the broker is stopping.
_BROKER_ERRORS = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    IncorrectState,
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """True for outages of the database or the broker: the command is retried, not refused."""
    if isinstance(exc, ConnectionFailure | WriteConcernError):
        return True
    if isinstance(exc, PyMongoError):
        code = exc.code if isinstance(exc, OperationFailure) else None
        return (
            code in _TRANSIENT_CODES
            or exc.timeout
            or any(exc.has_error_label(label) for label in _TRANSIENT_LABELS)
        )
    return isinstance(exc, _BROKER_ERRORS)
