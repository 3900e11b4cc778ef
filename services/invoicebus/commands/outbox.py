"""Publishing the events that stored records carry, and the relay that retries unsent ones.

Every created record is stored with its event, pending, in the same write (see
``adapters/mongo/outbox.py``); a batch's records are pending together, as one batch
(``Store.add_many``). The command that wrote it publishes the event with a confirm and then
marks it sent (a batch with one write); if the process dies in between, the relay finds it (or
its batch) still pending and publishes again. Events can therefore arrive twice, always with
the same event id (``message_id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from .. import metrics
from ..adapters.errors import is_transient
from ..domain import clock
from ..domain.records import Record
from ..messaging import Messenger, created_event
from .ports import Store

log = logging.getLogger(__name__)

#: How long stopping waits for a relay round in progress.
RELAY_STOP_SECONDS = 5.0


class Outbox:
    def __init__(self, store: Store, messenger: Messenger) -> None:
        self.store = store
        self.messenger = messenger

    async def send(self, record: Record[Any]) -> None:
        """Publish the record's event (confirmed), then mark it sent."""
        await self._publish(record)
        if record.pending:
            await self.store.mark_sent(record)
            record.pending = False

    async def send_many(self, records: Sequence[Record[Any]]) -> None:
        """``send`` for many records: every event published at once, their confirms awaited
        together, then one write marks the pending ones sent."""
        await asyncio.gather(*(self._publish(record) for record in records))
        pending = [record for record in records if record.pending]
        if pending:
            await self.store.mark_sent_many(pending)
            for record in pending:
                record.pending = False

    async def _publish(self, record: Record[Any]) -> None:
        event = created_event(record)
        await self.messenger.publish_event(
            event.type,
            event.body,
            event_id=event.id,
            correlation_id=event.correlation_id,
            entity_id=event.entity_id,
            tenant_entity=event.entity_id,
        )

    async def relay_once(self, grace_seconds: float) -> int:
        """Send every event older than the grace period that is still unsent: those pending on
        their own one by one, then each pending batch's together, the batch ended only once
        all of them are confirmed (a failure leaves it for the next round, whole)."""
        sent = 0
        created_before = clock.now() - timedelta(seconds=grace_seconds)
        async for record in self.store.pending(created_before):
            await self.send(record)
            sent += 1
        async for batch in self.store.pending_batches(created_before):
            await asyncio.gather(*(self._publish(record) for record in batch.records))
            await self.store.batch_sent(batch)
            sent += len(batch.records)
        if sent:
            metrics.RELAYED_EVENTS.inc(sent)
            log.warning("outbox relay published %d event(s) left unsent", sent)
        return sent

    async def observe_backlog(self) -> None:
        """Set the backlog gauges: per resource, the unsent events and the oldest one's age.
        An event still unsent long after its command is what the operators' alert is about."""
        now = clock.now()
        for resource, backlog in (await self.store.backlog()).items():
            age = 0.0 if backlog.oldest is None else (now - backlog.oldest).total_seconds()
            metrics.OUTBOX_PENDING.labels(resource.value).set(backlog.count)
            metrics.OUTBOX_OLDEST_PENDING_AGE.labels(resource.value).set(max(age, 0.0))

    async def run(self, interval_seconds: float, grace_seconds: float, stop: asyncio.Event) -> None:
        """Relay (at start, then every interval) and then measure what is left, until ``stop``
        is set; errors are logged and retried. The flag, not only task cancellation, ends the
        loop: a cancellation that lands inside a driver call can come out as a connection
        error. The backlog is measured even when relaying failed (the broker is away, say):
        then it grows, and that is what it should show."""
        while not stop.is_set():
            await _attempt(lambda: self.relay_once(grace_seconds), interval_seconds)
            await _attempt(self.observe_backlog, interval_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_seconds)


async def _attempt(step: Callable[[], Awaitable[object]], interval_seconds: float) -> None:
    """One step of a relay round; a failure is logged, and the next round tries again."""
    try:
        await step()
    except Exception as exc:  # the relay must outlive outages
        if is_transient(exc):
            metrics.TRANSIENT_FAILURES.labels("relay").inc()
            log.warning("outbox relay: %r; retrying in %ss", exc, interval_seconds)
        else:
            log.exception("outbox relay round failed; retrying in %ss", interval_seconds)


class Relay:
    """The relay as a background task of the running service, with a bounded stop."""

    def __init__(self, outbox: Outbox, *, interval_seconds: float, grace_seconds: float) -> None:
        self.outbox = outbox
        self.interval_seconds = interval_seconds
        self.grace_seconds = grace_seconds
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(
            self.outbox.run(self.interval_seconds, self.grace_seconds, self._stop)
        )

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            # Bounded: a round stuck on a vanished database must not hold up the shutdown.
            await asyncio.wait({self._task}, timeout=RELAY_STOP_SECONDS)
