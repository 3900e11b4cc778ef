"""Publishing the events that documents carry, and the relay that retries unsent ones.

Every created document holds its event (``_event``) and ``_pending: true`` from the moment
it is written. The command that wrote it publishes the event with a confirm and then clears
the flag; if the process dies in between, the relay finds the flag still set and publishes
again. Events can therefore arrive twice, always with the same event id (``message_id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from invoicebus_contracts import Resource
from invoicebus_contracts.wire import encode

from .. import metrics
from ..adapters.errors import is_transient
from ..adapters.mongo.client import Document
from ..adapters.mongo.documents import to_resource
from ..adapters.mongo.store import Store
from ..domain import clock
from ..messaging import Messenger

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, store: Store, messenger: Messenger) -> None:
        self.store = store
        self.messenger = messenger

    async def send(self, resource: Resource, doc: Document) -> None:
        """Publish the document's event (confirmed), then mark it sent."""
        event = doc["_event"]
        await self.messenger.publish_event(
            event["type"],
            encode(to_resource(resource, doc)),
            event_id=event["id"],
            correlation_id=event.get("correlation_id"),
            entity_id=doc.get("entity_id") or (doc["_id"] if resource is Resource.ENTITY else None),
        )
        if doc.get("_pending"):
            await self.store.mark_sent(resource, doc["_id"])
            doc["_pending"] = False

    async def relay_once(self, grace_seconds: float) -> int:
        """Send every event older than the grace period that is still unsent."""
        sent = 0
        async for resource, doc in self.store.pending(
            clock.now() - timedelta(seconds=grace_seconds)
        ):
            await self.send(resource, doc)
            sent += 1
        if sent:
            metrics.RELAYED_EVENTS.inc(sent)
            log.warning("outbox relay published %d event(s) left unsent", sent)
        return sent

    async def run(self, interval_seconds: float, grace_seconds: float, stop: asyncio.Event) -> None:
        """Relay (at start, then every interval) until ``stop`` is set; errors are logged and
        retried. The flag, not only task cancellation, ends the loop: a cancellation that lands
        inside a driver call can come out as a connection error."""
        while not stop.is_set():
            try:
                await self.relay_once(grace_seconds)
            except Exception as exc:  # the relay must outlive outages; it retries next round
                if is_transient(exc):
                    metrics.TRANSIENT_FAILURES.labels("relay").inc()
                    log.warning("outbox relay: %r; retrying in %ss", exc, interval_seconds)
                else:
                    log.exception("outbox relay round failed; retrying in %ss", interval_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_seconds)
