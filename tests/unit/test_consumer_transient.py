"""Which failures the services wait out (transient) and which mean the message is the problem."""

from __future__ import annotations

import pytest
from aiormq.exceptions import (
    ChannelInvalidStateError,
    ChannelNotFoundEntity,
    ConnectionClosed,
    DeliveryError,
)
from faststream.exceptions import IncorrectState
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WriteConcernError,
)

from invoicebus.adapters.errors import is_transient


@pytest.mark.parametrize(
    "exc",
    [
        AutoReconnect("connection reset"),
        ServerSelectionTimeoutError("no server"),
        NetworkTimeout("timed out"),
        NotPrimaryError("stepped down"),
        WriteConcernError("w timeout"),
        ExecutionTimeout("maxTimeMS", code=50),
        OperationFailure("shutting down", code=91),
        OperationFailure("labelled", code=1, details={"errorLabels": ["RetryableWriteError"]}),
        ChannelInvalidStateError("channel closed"),  # a RuntimeError, not an AMQPError
        ConnectionClosed(320, "CONNECTION_FORCED"),
        DeliveryError(None, None),  # type: ignore[arg-type]  # the broker nacked a publish
        ChannelNotFoundEntity("no exchange"),
        IncorrectState("not connected"),
        ConnectionResetError(),
        TimeoutError(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_outages_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        DuplicateKeyError("E11000", code=11000),
        OperationFailure("bad query", code=2),
        ValueError("bad value"),
        KeyError("missing"),
        ZeroDivisionError(),
        RuntimeError("some bug"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_bugs_and_bad_data_are_not(exc: BaseException) -> None:
    assert not is_transient(exc)
