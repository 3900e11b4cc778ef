"""The batched write path: a batch of commands that each create one record, written together.

``batching.Batcher`` decides which messages make a batch; this module writes one, keeping
every rule of the one-by-one path (``consumer.py``, ``pipeline.py``):

1. each command is validated and its record built (``CommandPipeline.prepare``): who acts on
   which entity (cached lookups), the contract, the record with its pending event. A command
   refused here is refused alone; the others go on;
2. the records are stored with one ``Store.add_many`` (one ``insert_many`` per collection; a
   repeated key gives its original, a reused one its ``idempotency_conflict``, for that
   command alone), retried as a whole while it fails transiently (safe: a record stored by an
   earlier try is found stored);
3. the events are published together and confirmed together, one write marks them sent, and
   the replies and refusals go out (``CommandPipeline.deliver_many``), retried the same way;
4. only then is each message acked.

Transient failures are retried up to ``transient_retry_seconds`` from the batch's start, as
for a single command, then every message of the step goes back to the broker. Anything
unexpected, or a command whose checks could not complete, leaves the batch and takes the
one-by-one path, with its own retries and its ``internal_error`` refusal, so one odd command
costs the batch nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from faststream.rabbit import RabbitMessage

from invoicebus_contracts import Resource

from .. import logcontext, metrics
from ..adapters.rabbit.consuming import RabbitDelivery, envelope_from
from ..domain.errors import DomainError
from ..domain.records import Record
from ..messaging import Delivery, Envelope
from ..retrying import GaveUp
from .batching import Batcher
from .consumer import CommandConsumer, Verdict, given_back, settled
from .context import Builder, Outcome
from .pipeline import Decision, Prepared, Refusal


@dataclass(frozen=True)
class Entry:
    """One message of a batch."""

    resource: Resource
    envelope: Envelope
    delivery: Delivery


class BatchWriter:
    def __init__(self, consumer: CommandConsumer, builders: Mapping[Resource, Builder]) -> None:
        self.consumer = consumer
        self.pipeline = consumer.pipeline
        self.builders = builders

    async def write(self, entries: list[Entry]) -> None:
        deadline = time.monotonic() + self.consumer.transient_retry_seconds
        metrics.COMMAND_BATCH_SIZE.observe(len(entries))
        alone: list[Entry] = []  # they take the one-by-one path
        decided: list[tuple[Entry, Decision]] = []
        to_store: list[tuple[Entry, Prepared]] = []
        for entry in entries:
            try:
                with logcontext.about(entry.envelope):
                    found = await self.pipeline.prepare(
                        entry.resource, entry.envelope, self.builders[entry.resource]
                    )
            except Exception:  # a lookup failed (the database away?): that command alone
                alone.append(entry)
                continue
            if isinstance(found, Refusal):
                decided.append((entry, found))
            else:
                to_store.append((entry, found))

        verdicts: list[tuple[Entry, Verdict]] = []
        redeliver: list[tuple[Entry, Decision]] = []
        if to_store:
            try:
                stored = await self.consumer.retrying(
                    lambda: self.pipeline.store.add_many([(p.record, p.key) for _, p in to_store]),
                    deadline,
                    lambda: _gone(e for e, _ in to_store),
                )
            except GaveUp as back:
                verdicts += [(e, given_back(e.resource, back)) for e, _ in to_store]
            except Exception:  # unexpected: each on its own path, where it is retried or refused
                alone += [e for e, _ in to_store]
            else:
                decided += [
                    (entry, _decision(result, prepared))
                    for (entry, prepared), result in zip(to_store, stored, strict=True)
                ]

        if decided:
            try:
                await self.consumer.retrying(
                    lambda: self.pipeline.deliver_many(
                        [(e.resource, e.envelope, decision) for e, decision in decided]
                    ),
                    deadline,
                    lambda: _gone(e for e, _ in decided),
                )
            except GaveUp as back:
                verdicts += [(e, given_back(e.resource, back)) for e, _ in decided]
            except Exception:  # unexpected: each delivered (or refused) on its own
                redeliver = decided
            else:
                for entry, decision in decided:
                    with logcontext.about(entry.envelope):
                        verdicts.append((entry, settled(entry.resource, decision)))

        await asyncio.gather(
            *(self.consumer.conclude(e.resource, e.envelope, e.delivery, v) for e, v in verdicts),
            *(self.consumer.handle(e.resource, e.envelope, e.delivery) for e in alone),
            *(self.consumer.handle(e.resource, e.envelope, e.delivery, d) for e, d in redeliver),
        )


#: The routing key of each command type.
BATCHED_KEYS: dict[str, Resource] = {resource.create_key: resource for resource in Resource}


class BatchingConsumer:
    """The command service's consumer: commands with a builder go through a ``Batcher`` to
    the ``BatchWriter``; the others run one by one (``CommandConsumer``)."""

    def __init__(
        self,
        consumer: CommandConsumer,
        builders: Mapping[Resource, Builder],
        *,
        size: int,
        wait_seconds: float,
        concurrency: int,
    ) -> None:
        self.consumer = consumer
        self.builders = builders
        writer = BatchWriter(consumer, builders)
        self.batcher: Batcher[Entry] = Batcher(
            writer.write, size=size, wait_seconds=wait_seconds, concurrency=concurrency
        )

    async def consume(self, queue: Any, msg: RabbitMessage) -> None:
        """A message of any command queue: its routing key says which command it is, so this
        does not depend on one queue per command type (shards carry them all). A routing key
        that names no batched command is ``CommandConsumer``'s to run or refuse."""
        resource = BATCHED_KEYS.get(msg.raw_message.routing_key or "")
        if resource is None or resource not in self.builders:
            await self.consumer.consume(queue, msg)
            return
        await self.batcher.submit(Entry(resource, envelope_from(msg), RabbitDelivery(msg)))

    async def handle(self, resource: Resource, envelope: Envelope, delivery: Delivery) -> None:
        if resource in self.builders:
            await self.batcher.submit(Entry(resource, envelope, delivery))
        else:
            await self.consumer.handle(resource, envelope, delivery)


def _decision(result: Record[Any] | DomainError, prepared: Prepared) -> Decision:
    if isinstance(result, DomainError):
        return Refusal(result.to_body(), prepared.entity_id)
    return Outcome(result)


def _gone(entries: Any) -> bool:
    """The deliveries' channel closed: the broker has requeued them already."""
    return any(entry.delivery.channel_closed for entry in entries)
