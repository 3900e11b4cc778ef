"""The services under test as seen from outside: their broker connections."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faststream.rabbit import RabbitBroker


def broker_of(app: Any) -> RabbitBroker:
    """The RabbitMQ broker of a service's FastStream app."""
    broker = app.broker
    assert isinstance(broker, RabbitBroker)
    return broker


@contextmanager
def connection_losses(*apps: Any) -> Iterator[list[str]]:
    """Every loss of the services' broker connections while the block runs: a robust
    connection calls its close callbacks each time the connection under it closes, however
    it then reconnects. (Reads FastStream's private ``_connection``, pinned: faststream 0.7.x.)"""
    losses: list[str] = []

    def lost(_: Any, exc: BaseException | None = None) -> None:
        losses.append(repr(exc))

    connections = [broker_of(app)._connection for app in apps]
    for connection in connections:
        assert connection is not None and not connection.is_closed
        connection.close_callbacks.add(lost)
    try:
        yield losses
    finally:
        for connection in connections:
            assert connection is not None
            connection.close_callbacks.discard(lost)
