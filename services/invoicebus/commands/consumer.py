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
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from aiormq.exceptions import ChannelInvalidStateError
from faststream.rabbit import RabbitMessage

from invoicebus_contracts import ErrorBody, ErrorCode, Resource, error_body

from .. import metrics
from ..adapters.errors import is_transient
from ..adapters.rabbit.consuming import envelope_from
from ..adapters.rabbit.messenger import Envelope
from .pipeline import CommandPipeline

log = logging.getLogger(__name__)

BACKOFF_START = 0.5
BACKOFF_MAX = 10.0
T = TypeVar("T")


class Delivery(Protocol):
    """One delivery of a message, as far as settling it goes."""

    @property
    def channel_closed(self) -> bool: ...

    async def ack(self) -> None: ...

    async def nack(self, *, requeue: bool) -> None: ...

    async def reject(self) -> None: ...


class RabbitDelivery:
    def __init__(self, msg: RabbitMessage) -> None:
        self.msg = msg

    @property
    def channel_closed(self) -> bool:
        try:
            self.msg.raw_message.channel  # noqa: B018 - raises once the channel is closed
        except ChannelInvalidStateError:
            return True
        return False

    async def ack(self) -> None:
        await self.msg.ack()

    async def nack(self, *, requeue: bool) -> None:
        await self.msg.nack(requeue=requeue)

    async def reject(self) -> None:
        await self.msg.reject(requeue=False)


class Verdict(enum.Enum):
    ACK = "ack"
    REQUEUE = "requeue"  # nack + requeue: counts against the delivery limit
    REJECT = "reject"  # the broker dead-letters it
    GONE = "gone"  # the channel closed: the broker requeued it already


class GiveBack(Exception):
    """Retrying ends without an answer; the message goes back to the broker."""

    def __init__(self, verdict: Verdict, reason: str) -> None:
        super().__init__(reason)
        self.verdict = verdict
        self.reason = reason


class CommandConsumer:
    def __init__(self, pipeline: CommandPipeline, transient_retry_seconds: float) -> None:
        self.pipeline = pipeline
        self.transient_retry_seconds = transient_retry_seconds
        self._stopping = asyncio.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Shutdown begins: retries end now and their messages go back to the broker."""
        self._stopping.set()

    async def consume(self, resource: Resource, msg: RabbitMessage) -> None:
        await self.handle(resource, envelope_from(msg), RabbitDelivery(msg))

    async def handle(self, resource: Resource, envelope: Envelope, delivery: Delivery) -> None:
        verdict = await self.settle(resource, envelope, delivery)
        if verdict is not Verdict.ACK:
            log.warning("%s %s: %s", resource.create_key, envelope.message_id, verdict.value)
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
            log.warning("could not %s %s (%r)", verdict.value, envelope.message_id, exc)

    async def settle(self, resource: Resource, envelope: Envelope, delivery: Delivery) -> Verdict:
        queue = resource.create_key
        deadline = time.monotonic() + self.transient_retry_seconds

        async def retrying(step: Callable[[], Awaitable[T]]) -> T:
            return await self._retrying(step, deadline, delivery)

        try:
            decision = await retrying(lambda: self.pipeline.decide(resource, envelope))
            await retrying(lambda: self.pipeline.deliver(resource, envelope, decision))
        except GiveBack as back:
            metrics.REQUEUED.labels(queue, back.reason).inc()
            return back.verdict
        except Exception:
            log.exception("unexpected error on %s %s", queue, envelope.message_id)
            decision = error_body(
                ErrorCode.INTERNAL_ERROR,
                "internal error; the command was kept in the dead-letter queue",
            )
            try:
                await retrying(lambda: self.pipeline.refuse(resource, envelope, decision))
            except GiveBack as back:
                metrics.REQUEUED.labels(queue, back.reason).inc()
                return back.verdict
            except Exception:
                log.exception("could not dead-letter %s; rejecting it", envelope.message_id)
                return Verdict.REJECT
        result = decision.error.code.value if isinstance(decision, ErrorBody) else "created"
        metrics.SETTLED_COMMANDS.labels(queue, result).inc()
        return Verdict.ACK

    async def _retrying(
        self, step: Callable[[], Awaitable[T]], deadline: float, delivery: Delivery
    ) -> T:
        """``step()``, retried with backoff while it fails transiently and it is worth it."""
        delay = BACKOFF_START
        while True:
            try:
                return await step()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                metrics.TRANSIENT_FAILURES.labels("command").inc()
                if delivery.channel_closed:
                    raise GiveBack(Verdict.GONE, "channel_closed") from exc
                if self.stopping:
                    raise GiveBack(Verdict.REQUEUE, "shutdown") from exc
                if time.monotonic() + delay > deadline:
                    raise GiveBack(Verdict.REQUEUE, "retry_window") from exc
                log.warning("transient failure (%r); retrying in %.1fs", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, BACKOFF_MAX)
