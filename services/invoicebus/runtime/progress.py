"""Whether each consumer makes progress: a stalled one is a reason for ``/readyz`` to say 503.

A consumer is stalled when its queue has had messages ready for ``stall_seconds`` and it has
settled none of its own messages (ack, nack or reject) in that time. That catches what the
other readiness checks cannot: the connection is up, the database answers and the consumer is
registered, yet its prefetch window is full of messages it never settles (a reply it waits on
forever, say), so the broker gives it nothing more and the queue only grows.

Messages ready are read from the broker each time readiness is asked (a passive declaration
on a channel of its own), so a stall shows after ``stall_seconds`` plus one probe interval.
A consumer that settles slowly but steadily is not stalled; a busy one whose messages each
take longer than ``stall_seconds`` would be, which is why the threshold is well above the
longest a message may take (the query time budget; the command retry window ends in a nack).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiormq.abc import AbstractChannel
from faststream.rabbit import RabbitBroker

log = logging.getLogger(__package__)


class Progress:
    """When each queue's consumer last settled a message, and since when its queue waits."""

    def __init__(self, stall_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_seconds = stall_seconds
        self._clock = clock
        self._started = clock()
        self._settled: dict[str, float] = {}
        self._ready_since: dict[str, float] = {}

    def settled(self, queue: str) -> None:
        """The consumer of ``queue`` settled one of its messages."""
        self._settled[queue] = self._clock()

    def stalled(self, queue: str, ready: int) -> bool:
        """Whether ``queue``, with ``ready`` messages waiting now, has a stalled consumer."""
        now = self._clock()
        if ready <= 0:
            self._ready_since.pop(queue, None)
            return False
        since = self._ready_since.setdefault(queue, now)
        last = self._settled.get(queue, self._started)
        return now - since >= self.stall_seconds and now - last >= self.stall_seconds


async def ready_messages(broker: RabbitBroker, queues: list[str]) -> dict[str, int]:
    """Messages ready in each queue (those that exist), read with passive declarations.

    A channel of its own, opened on the broker's connection and closed again: a passive
    declaration of a missing queue closes its channel, which must not be a consumer's.
    Reads FastStream's private ``_connection`` (pinned: faststream 0.7.x, as the watchdog).
    """
    connection = broker._connection
    if connection is None or connection.transport is None:
        return {}
    counts: dict[str, int] = {}
    channel: AbstractChannel = await connection.transport.connection.channel()
    try:
        for name in queues:
            if channel.is_closed:
                channel = await connection.transport.connection.channel()
            try:
                declared = await channel.queue_declare(name, passive=True)
            except Exception as exc:  # gone, or the channel closed under us
                log.debug("cannot read the depth of %s (%r)", name, exc)
                continue
            counts[name] = declared.message_count or 0
    finally:
        if not channel.is_closed:
            await channel.close()
    return counts


async def stalled_queues(broker: RabbitBroker, progress: Progress, queues: list[str]) -> list[str]:
    """The queues among ``queues`` whose consumer in this process is stalled."""
    ready = await ready_messages(broker, queues)
    return [name for name in queues if progress.stalled(name, ready.get(name, 0))]
