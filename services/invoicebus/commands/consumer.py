"""Acknowledgement policy of the command service: the retry rules, in one place.

- Processed (created, or refused with a dead-letter copy): ack.
- Transient failure (database or broker away): keep the message unacked and retry with
  jittered exponential backoff (0.5 s doubling to 10 s) for up to ``transient_retry_seconds``
  per delivery; then nack with requeue, which counts against the queue's ``x-delivery-limit``.
  Past that limit the broker dead-letters the message itself (at-least-once dead-lettering),
  so a command outlives an outage of about ``transient_retry_seconds * (delivery_limit + 1)``
  and is never retried forever.
- A stored command is not stored again: the two steps of the pipeline (``decide``, then
  ``deliver``) are retried separately.
- Unexpected error (a bug): refused as ``internal_error`` and dead-lettered at once; should even
  that fail, the message is rejected and the broker dead-letters it.
- The delivery's channel is gone (broker connection lost): stop; the broker has requeued the
  message and redelivers it, and the idempotency key makes that safe.
- Shutting down: retries end at once and their messages go back to the broker.

How retrying waits is ``retrying.retry_transient``'s; this module decides what each way of
giving up means for the message.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from faststream.rabbit import RabbitMessage

from invoicebus_contracts import ErrorCode, Resource, error_body

from .. import logcontext, metrics
from ..adapters.errors import is_transient
from ..adapters.rabbit.consuming import RabbitDelivery, envelope_from
from ..messaging import Delivery, Envelope
from ..retrying import Backoff, GaveUp, Shutdown, retry_transient
from .pipeline import CommandPipeline, Decision, Refusal

log = logging.getLogger(__name__)

BACKOFF_START = 0.5
BACKOFF_MAX = 10.0
T = TypeVar("T")


class Verdict(enum.Enum):
    ACK = "ack"
    REQUEUE = "requeue"  # nack + requeue: counts against the delivery limit
    REJECT = "reject"  # the broker dead-letters it
    GONE = "gone"  # the channel closed: the broker requeued it already


#: What each reason to stop retrying (``retrying.GaveUp``) does with the message.
_GIVEN_BACK = {
    "channel_closed": Verdict.GONE,
    "shutdown": Verdict.REQUEUE,
    "retry_window": Verdict.REQUEUE,
}


#: The routing key of each command, as the commands exchange forwards them to the shards.
COMMAND_KEYS: dict[str, Resource] = {resource.create_key: resource for resource in Resource}


def command_of(routing_key: str) -> Resource | None:
    """The command a routing key names, or None."""
    return COMMAND_KEYS.get(routing_key)


class CommandConsumer:
    def __init__(self, pipeline: CommandPipeline, transient_retry_seconds: float) -> None:
        self.pipeline = pipeline
        self.transient_retry_seconds = transient_retry_seconds
        self._shutdown = Shutdown()

    @property
    def stopping(self) -> bool:
        return self._shutdown.started

    def stop(self) -> None:
        """Shutdown begins: retries end now and their messages go back to the broker."""
        self._shutdown.begin()

    async def consume(self, queue: str, msg: RabbitMessage) -> None:
        """A message of a command queue (a shard: every command type): its routing key says
        which command it is."""
        envelope, delivery = envelope_from(msg), RabbitDelivery(msg)
        resource = command_of(envelope.routing_key)
        if resource is None:
            with logcontext.about(envelope):
                await self.refuse_unknown(envelope, delivery)
            return
        await self.handle(resource, envelope, delivery)

    async def refuse_unknown(self, envelope: Envelope, delivery: Delivery) -> None:
        """A routing key that names no command (the commands exchange forwards only the create
        keys, so someone bound it by hand): refused like any bad command, dead-lettered with
        the reason and answered, never retried."""
        error = error_body(
            ErrorCode.VALIDATION_ERROR,
            f"routing key {envelope.routing_key[:100]!r} names no command; expected one of"
            f" {', '.join(sorted(COMMAND_KEYS))}",
        )
        metrics.SETTLED_COMMANDS.labels("unknown", error.error.code.value).inc()
        log.warning("refused %s: unknown routing key", envelope.shown_id)
        try:
            await self.pipeline.refuse_unroutable(envelope, error)
        except Exception:
            log.exception("could not dead-letter %s; rejecting it", envelope.shown_id)
            await delivery.reject()  # the broker dead-letters it
            return
        await delivery.ack()

    async def handle(
        self,
        resource: Resource,
        envelope: Envelope,
        delivery: Delivery,
        decision: Decision | None = None,
    ) -> None:
        """Run the command (or, given its ``decision``, only deliver it) and settle it."""
        with logcontext.about(envelope):
            verdict = await self.settle(resource, envelope, delivery, decision)
            await self.conclude(resource, envelope, delivery, verdict)

    async def conclude(
        self, resource: Resource, envelope: Envelope, delivery: Delivery, verdict: Verdict
    ) -> None:
        """Settle the delivery with the broker as ``verdict`` says."""
        if verdict is Verdict.ACK:
            log.debug("%s %s: settled", resource.create_key, envelope.shown_id)
        else:
            logcontext.note(outcome=verdict.value)
            log.warning("%s %s: %s", resource.create_key, envelope.shown_id, verdict.value)
        try:
            if verdict is Verdict.ACK:
                await delivery.ack()
            elif verdict is Verdict.REQUEUE:
                await delivery.nack(requeue=True)
            elif verdict is Verdict.REJECT:
                await delivery.reject()
        except Exception as exc:  # the channel went away after all: the broker redelivers
            if not is_transient(exc):
                raise
            log.warning("could not %s %s (%r)", verdict.value, envelope.shown_id, exc)

    async def retrying(
        self, step: Callable[[], Awaitable[T]], deadline: float, gone: Callable[[], bool]
    ) -> T:
        """``step``, retried while it fails transiently, until ``deadline`` or shutdown, or
        until ``gone()`` (the deliveries' channel closed); else ``retrying.GaveUp``."""
        return await retry_transient(
            step,
            backoff=Backoff(BACKOFF_START, BACKOFF_MAX),
            deadline=deadline,
            shutdown=self._shutdown,
            logger=log,
            gone=gone,
            on_failure=lambda exc: metrics.TRANSIENT_FAILURES.labels("command").inc(),
        )

    async def settle(
        self,
        resource: Resource,
        envelope: Envelope,
        delivery: Delivery,
        decision: Decision | None = None,
    ) -> Verdict:
        queue = resource.create_key
        deadline = time.monotonic() + self.transient_retry_seconds

        async def retrying(step: Callable[[], Awaitable[T]]) -> T:
            return await self.retrying(step, deadline, lambda: delivery.channel_closed)

        try:
            if decision is None:
                decision = await retrying(lambda: self.pipeline.decide(resource, envelope))
            decided = decision
            await retrying(lambda: self.pipeline.deliver(resource, envelope, decided))
        except GaveUp as back:
            return given_back(resource, back)
        except Exception:
            log.exception("unexpected error on %s %s", queue, envelope.shown_id)
            failure = Refusal(
                error_body(
                    ErrorCode.INTERNAL_ERROR,
                    "internal error; the command was kept in the dead-letter queue",
                )
            )
            decision = failure
            try:
                await retrying(lambda: self.pipeline.refuse(resource, envelope, failure.error))
            except GaveUp as back:
                return given_back(resource, back)
            except Exception:
                log.exception("could not dead-letter %s; rejecting it", envelope.shown_id)
                return Verdict.REJECT
        return settled(resource, decision)


def given_back(resource: Resource, back: GaveUp) -> Verdict:
    """Retrying ended (shutdown, the retry window, the channel gone): what the message gets."""
    metrics.REQUEUED.labels(resource.create_key, back.reason).inc()
    return _GIVEN_BACK[back.reason]


def settled(resource: Resource, decision: Decision) -> Verdict:
    """A command delivered (created, or refused): counted, and to be acked."""
    result = decision.error.error.code.value if isinstance(decision, Refusal) else "created"
    logcontext.note(outcome=result)
    metrics.SETTLED_COMMANDS.labels(resource.create_key, result).inc()
    return Verdict.ACK
