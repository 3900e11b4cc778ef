"""Acknowledgement policy of the query service, for list requests and event replays alike.

A request changes nothing the services own (a replay only copies events into the caller's
queue, and is safe to repeat: subscribers deduplicate on the event id), so the rules are simple:
- Answered (a page or an error reply): ack.
- The reply is best effort (``replying.reply_best_effort``): a ``reply_to`` that refuses it is
  counted and logged, and the request is acked all the same: it changed nothing.
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
from collections.abc import Awaitable
from typing import Any, Protocol

from faststream.rabbit import RabbitMessage

from invoicebus_contracts import ErrorCode, error_body
from invoicebus_contracts.text import shown

from .. import logcontext, metrics
from ..adapters.errors import is_transient
from ..adapters.rabbit.consuming import RabbitDelivery, envelope_from
from ..messaging import Delivery, Envelope, Messenger, undecodable_error
from ..replying import reply_best_effort
from ..retrying import Backoff, GaveUp, Shutdown, retry_transient
from .service import Reply

log = logging.getLogger(__name__)

RETRY_SECONDS = 10.0
BACKOFF_START = 0.2
BACKOFF_MAX = 2.0


class Answerer(Protocol):
    """What answers a request: ``QueryService`` (``key``: the resource), ``EventReplay``."""

    async def answer(self, key: Any, envelope: Envelope) -> Reply: ...


class QueryConsumer:
    def __init__(self, service: Answerer, messenger: Messenger) -> None:
        self.service = service
        self.messenger = messenger
        self._shutdown = Shutdown()

    def stop(self) -> None:
        """Shutdown begins: retries end now and their requests go back to the broker."""
        self._shutdown.begin()

    async def consume(self, key: Any, msg: RabbitMessage) -> None:
        await self.handle(key, envelope_from(msg), RabbitDelivery(msg))

    async def handle(self, key: Any, envelope: Envelope, delivery: Delivery) -> None:
        """``key`` tells the answerer what is asked (a resource); logs and metrics name the
        request by its routing key (``customer.list``, ``events.replay``)."""
        with logcontext.about(envelope):
            await self._handle(key, envelope, delivery)

    async def _handle(self, key: Any, envelope: Envelope, delivery: Delivery) -> None:
        name = envelope.routing_key
        if not envelope.reply_address:
            logcontext.note(outcome="dropped")
            log.warning(
                "%s without a usable reply_to (correlation_id %s): nobody to answer; dropped",
                name,
                envelope.correlation_id and shown(envelope.correlation_id),
            )
            await _settle(delivery.ack(), envelope)
            return
        reply = await self.answer(key, envelope)
        if reply is None:
            logcontext.note(outcome="requeue")
            await _settle(delivery.nack(requeue=True), envelope)
            return
        logcontext.note(outcome=str(reply.status))
        log.debug("%s answered %d", name, reply.status)
        metrics.LIST_REQUESTS.labels(name, reply.result).inc()
        if reply.timeout_stage is not None:
            metrics.QUERY_TIMEOUTS.labels(name, reply.timeout_stage).inc()
        await self.send(envelope, reply)
        await _settle(delivery.ack(), envelope)

    async def send(self, envelope: Envelope, reply: Reply) -> None:
        """The reply, best effort (``replying``): a failure is counted and logged, never raised."""
        await reply_best_effort(self.messenger, envelope, reply.status, reply.body)

    async def answer(self, key: Any, envelope: Envelope) -> Reply | None:
        """The reply, or None when the service stops before it has one."""
        if refusal := undecodable_error(envelope):
            return Reply.refusing(refusal)
        try:
            return await retry_transient(
                lambda: self.service.answer(key, envelope),
                backoff=Backoff(BACKOFF_START, BACKOFF_MAX),
                deadline=time.monotonic() + RETRY_SECONDS,
                shutdown=self._shutdown,
                logger=log,
            )
        except GaveUp as back:
            if back.reason == "shutdown":
                return None
            log.warning("giving up on %s after %r", envelope.routing_key, back.__cause__)
            return _internal_error("the database is unavailable; please retry")
        except Exception:
            log.exception("unexpected error on %s", envelope.routing_key)
            return _internal_error(f"internal error on {envelope.routing_key}; please retry")


async def _settle(settling: Awaitable[None], envelope: Envelope) -> None:
    """Ack or nack; a channel lost meanwhile is no error (the broker redelivers the request)."""
    try:
        await settling
    except Exception as exc:
        if not is_transient(exc):
            raise
        log.warning(
            "could not settle %s (%r)",
            envelope.correlation_id and shown(envelope.correlation_id),
            exc,
        )


def _internal_error(message: str) -> Reply:
    return Reply.refusing(error_body(ErrorCode.INTERNAL_ERROR, message))
