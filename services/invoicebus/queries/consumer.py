"""Acknowledgement policy of the query service.

A query has no side effects, so the rules are simple:
- Answered (a page or an error reply): ack.
- No ``reply_to``: nobody can be answered; ack and log (nothing to keep: it changed nothing).
- Transient failure (database away): retry with backoff for up to ``RETRY_SECONDS`` while the
  client waits, then answer ``internal_error`` (500) so it is not left hanging.
- Unexpected error (a bug): answer ``internal_error`` at once.
- Shutting down mid-retry: hand the message back to the broker for another instance.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from faststream.rabbit import RabbitMessage

from invoicebus_contracts import ErrorCode, Resource, error_body
from invoicebus_contracts.wire import encode

from ..adapters.errors import is_transient
from ..adapters.rabbit.consuming import envelope_from
from ..adapters.rabbit.messenger import Envelope, Messenger
from .service import QueryService, Reply

log = logging.getLogger(__name__)

RETRY_SECONDS = 10.0
BACKOFF_START = 0.2
BACKOFF_MAX = 2.0


class QueryConsumer:
    def __init__(self, service: QueryService, messenger: Messenger) -> None:
        self.service = service
        self.messenger = messenger
        self.stopping = False

    async def consume(self, resource: Resource, msg: RabbitMessage) -> None:
        envelope = envelope_from(msg)
        if not envelope.reply_to:
            log.warning(
                "%s without reply_to (correlation_id %s): nobody to answer; dropped",
                resource.list_key,
                envelope.correlation_id,
            )
            await msg.ack()
            return
        reply = await self.answer(resource, envelope)
        if reply is None:
            await msg.nack(requeue=True)
            return
        status, body = reply
        await self.messenger.reply(envelope, status, body)
        await msg.ack()

    async def answer(self, resource: Resource, envelope: Envelope) -> Reply | None:
        deadline = time.monotonic() + RETRY_SECONDS
        delay = BACKOFF_START
        while True:
            try:
                return await self.service.answer(resource, envelope.body, envelope.entity_id)
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("unexpected error on %s", resource.list_key)
                    return _internal_error("internal error while listing; please retry")
                if self.stopping:
                    return None
                if time.monotonic() + delay > deadline:
                    log.warning("giving up on %s after %r", resource.list_key, exc)
                    return _internal_error("the database is unavailable; please retry")
                log.warning("transient failure (%r); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, BACKOFF_MAX)


def _internal_error(message: str) -> Reply:
    body = error_body(ErrorCode.INTERNAL_ERROR, message)
    return body.status, encode(body)
