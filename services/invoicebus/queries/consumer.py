"""Acknowledgement policy of the query service.

A query has no side effects, so the rules are simple:
- Answered (a page or an error reply): ack.
- No ``reply_to`` (or one that is not UTF-8): nobody can be answered; ack and log (nothing to
  keep: it changed nothing).
- Properties or header names that are not UTF-8: answer ``validation_error`` (422).
- Transient failure (database away): retry with backoff (``retrying.retry_transient``) for up
  to ``RETRY_SECONDS`` while the client waits, then answer ``internal_error`` (500) so it is
  not left hanging.
- Over its time budget: the service answers ``query_timeout`` (503) at once, never retried.
- Unexpected error (a bug): answer ``internal_error`` at once.
- Shutting down mid-retry: hand the message back to the broker for another instance.
"""

from __future__ import annotations

import logging
import time

from faststream.rabbit import RabbitMessage

from invoicebus_contracts import ErrorCode, Resource, error_body
from invoicebus_contracts.text import shown

from .. import logcontext, metrics
from ..adapters.rabbit.consuming import RabbitDelivery, envelope_from
from ..messaging import Delivery, Envelope, Messenger, undecodable_error
from ..retrying import Backoff, GaveUp, Shutdown, retry_transient
from .service import QueryService, Reply

log = logging.getLogger(__name__)

RETRY_SECONDS = 10.0
BACKOFF_START = 0.2
BACKOFF_MAX = 2.0


class QueryConsumer:
    def __init__(self, service: QueryService, messenger: Messenger) -> None:
        self.service = service
        self.messenger = messenger
        self._shutdown = Shutdown()

    def stop(self) -> None:
        """Shutdown begins: retries end now and their requests go back to the broker."""
        self._shutdown.begin()

    async def consume(self, resource: Resource, msg: RabbitMessage) -> None:
        await self.handle(resource, envelope_from(msg), RabbitDelivery(msg))

    async def handle(self, resource: Resource, envelope: Envelope, delivery: Delivery) -> None:
        with logcontext.about(envelope):
            await self._handle(resource, envelope, delivery)

    async def _handle(self, resource: Resource, envelope: Envelope, delivery: Delivery) -> None:
        if not envelope.reply_address:
            logcontext.note(outcome="dropped")
            log.warning(
                "%s without a usable reply_to (correlation_id %s): nobody to answer; dropped",
                resource.list_key,
                envelope.correlation_id and shown(envelope.correlation_id),
            )
            await delivery.ack()
            return
        reply = await self.answer(resource, envelope)
        if reply is None:
            logcontext.note(outcome="requeue")
            await delivery.nack(requeue=True)
            return
        logcontext.note(outcome=str(reply.status))
        log.debug("%s answered %d", resource.list_key, reply.status)
        metrics.LIST_REQUESTS.labels(resource.list_key, reply.result).inc()
        if reply.timeout_stage is not None:
            metrics.QUERY_TIMEOUTS.labels(resource.list_key, reply.timeout_stage).inc()
        await self.messenger.reply(envelope, reply.status, reply.body)
        await delivery.ack()

    async def answer(self, resource: Resource, envelope: Envelope) -> Reply | None:
        """The reply, or None when the service stops before it has one."""
        if refusal := undecodable_error(envelope):
            return Reply.refusing(refusal)
        try:
            return await retry_transient(
                lambda: self.service.answer(resource, envelope),
                backoff=Backoff(BACKOFF_START, BACKOFF_MAX),
                deadline=time.monotonic() + RETRY_SECONDS,
                shutdown=self._shutdown,
                logger=log,
            )
        except GaveUp as back:
            if back.reason == "shutdown":
                return None
            log.warning("giving up on %s after %r", resource.list_key, back.__cause__)
            return _internal_error("the database is unavailable; please retry")
        except Exception:
            log.exception("unexpected error on %s", resource.list_key)
            return _internal_error("internal error while listing; please retry")


def _internal_error(message: str) -> Reply:
    return Reply.refusing(error_body(ErrorCode.INTERNAL_ERROR, message))
