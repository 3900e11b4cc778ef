"""Acknowledgement policy of the command service: the retry rules, in one place.

- Processed (created or refused with a dead-letter copy): ack.
- Transient failure (database or broker away): keep the message unacked and retry with
  exponential backoff (0.5 s doubling to 10 s) for up to ``transient_retry_seconds``; then
  nack with requeue, which counts against the queue's ``x-delivery-limit``. Past that limit
  the broker dead-letters the message itself (at-least-once), so nothing is retried forever.
- Unexpected error (a bug): refused as ``internal_error`` and dead-lettered at once.
- Shutting down: stop retrying and hand the message back to the broker.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from faststream.rabbit import RabbitMessage

from invoicebus_contracts import ErrorCode, Resource, error_body

from ..adapters.errors import is_transient
from ..adapters.rabbit.consuming import envelope_from
from .pipeline import CommandPipeline

log = logging.getLogger(__name__)

BACKOFF_START = 0.5
BACKOFF_MAX = 10.0


class CommandConsumer:
    def __init__(self, pipeline: CommandPipeline, transient_retry_seconds: float) -> None:
        self.pipeline = pipeline
        self.transient_retry_seconds = transient_retry_seconds
        self.stopping = False
        self.in_flight = 0

    async def consume(self, resource: Resource, msg: RabbitMessage) -> None:
        envelope = envelope_from(msg)
        self.in_flight += 1
        try:
            deadline = time.monotonic() + self.transient_retry_seconds
            delay = BACKOFF_START
            while True:
                try:
                    await self.pipeline.process(resource, envelope)
                    break
                except Exception as exc:
                    if not is_transient(exc):
                        log.exception("unexpected error on %s %s", resource, envelope.message_id)
                        await self.pipeline.refuse(
                            resource,
                            envelope,
                            error_body(
                                ErrorCode.INTERNAL_ERROR,
                                "internal error; the command was kept in the dead-letter queue",
                            ),
                        )
                        break
                    if self.stopping or time.monotonic() + delay > deadline:
                        log.warning(
                            "giving %s back to the broker after %r", envelope.message_id, exc
                        )
                        await msg.nack(requeue=True)
                        return
                    log.warning("transient failure (%r); retrying in %.1fs", exc, delay)
                    await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                    delay = min(delay * 2, BACKOFF_MAX)
            await msg.ack()
        finally:
            self.in_flight -= 1
