"""The way of one command, as a straight line:

envelope → who acts on which entity (``access``: the sender, its grant) → decode and
validate against the contract → handler (store the record with its pending event,
atomically) → publish the event with a confirm → mark it sent → reply 201. A refused command
instead gets an error reply, a ``<resource>.rejected`` event and a copy in the dead-letter
queue; the rejected event goes to the entity's tenant too only when the sender may act on that
entity. Either way the caller acks
only after this returns; transient failures (database or broker away) propagate as exceptions
for the caller to retry.

The reply is best effort (``replying``): the record is stored and its event confirmed by
then, so a ``reply_to`` that refuses the reply is counted and logged, and the command is acked;
a reply is never retried and never holds the message.

It runs in two steps the caller retries separately: ``decide`` (everything up to the stored
record, or the refusal) and ``deliver`` (events and reply). A broker outage while delivering
then never runs the handler twice, which matters for commands without a ``message_id``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from invoicebus_contracts import COMMAND_MODELS, ErrorBody, Rejected, Resource
from invoicebus_contracts.wire import InvalidMessage, encode, parse

from .. import logcontext
from ..access import Access, Acting
from ..domain.errors import DomainError
from ..domain.ids import new_event_id
from ..domain.records import IdempotencyKey, Record
from ..messaging import Envelope, Messenger, undecodable_error
from ..replying import reply_best_effort
from .context import Builder, CommandContext, Handler, Outcome
from .outbox import Outbox
from .ports import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """Why a command was refused, and the entity its sender may act on (None when that was
    not established: the rejected event then stays off the tenant events exchange)."""

    error: ErrorBody
    entity_id: str | None = None


#: What a command comes to: its record (created or original), or the refusal to send.
Decision = Outcome | Refusal
D = TypeVar("D")


@dataclass(frozen=True)
class Prepared:
    """A valid command's record, built and not yet stored, with the command's key."""

    record: Record[Any]
    key: IdempotencyKey | None
    entity_id: str | None  # the entity its sender acts on (None for entity.create)


class CommandPipeline:
    def __init__(
        self,
        store: Store,
        messenger: Messenger,
        access: Access,
        handlers: Mapping[Resource, Handler],
    ) -> None:
        self.store = store
        self.messenger = messenger
        self.access = access
        self.outbox = Outbox(store, messenger)
        self.handlers = handlers

    async def decide(self, resource: Resource, envelope: Envelope) -> Decision:
        """Validate and run the handler: the stored (or original) record, or why not."""

        async def run(command: BaseModel, ctx: CommandContext) -> Outcome:
            return await self.handlers[resource](command, ctx, self.store)

        return await self._checked(resource, envelope, run)

    async def prepare(
        self, resource: Resource, envelope: Envelope, build: Builder
    ) -> Prepared | Refusal:
        """Validate and build the record to store, storing nothing (the batched path stores
        many at once with ``Store.add_many``), or why not."""

        async def built(command: BaseModel, ctx: CommandContext) -> Prepared:
            return Prepared(build(command, ctx), ctx.key, ctx.entity_id)

        return await self._checked(resource, envelope, built)

    async def _checked(
        self,
        resource: Resource,
        envelope: Envelope,
        then: Callable[[BaseModel, CommandContext], Awaitable[D]],
    ) -> D | Refusal:
        """Who acts on which entity, the command decoded and validated, then ``then``; or the
        refusal of any of these steps."""
        if refusal := undecodable_error(envelope):
            return Refusal(refusal)
        acting: Acting | None = None
        try:
            acting = await self.access.resolve(resource, envelope)
            logcontext.note(entity_id=acting.entity_id)
            command = parse(COMMAND_MODELS[resource], envelope.body)
            ctx = CommandContext.of(resource, command, acting, envelope.message_id)
            return await then(command, ctx)
        except (InvalidMessage, DomainError) as exc:
            body = exc.body if isinstance(exc, InvalidMessage) else exc.to_body()
            return Refusal(body, acting.entity_id if acting else None)

    async def deliver(self, resource: Resource, envelope: Envelope, decision: Decision) -> None:
        """Publish the events and reply (created), or refuse; safe to repeat."""
        if isinstance(decision, Refusal):
            await self.refuse(resource, envelope, decision.error, decision.entity_id)
            return
        for side_effect in decision.side_effects:
            await self.outbox.send(side_effect)
        await self.outbox.send(decision.record)
        await reply_best_effort(
            self.messenger, envelope, 201, encode(decision.record.model), bounded=False
        )

    async def deliver_many(self, decided: Sequence[tuple[Resource, Envelope, Decision]]) -> None:
        """``deliver`` for a batch: the events of all created records at once (confirms awaited
        together, one write marks them sent), then every reply and refusal at once; safe to
        repeat."""
        await self.outbox.send_many(
            [
                record
                for _, _, decision in decided
                if isinstance(decision, Outcome)
                for record in (*decision.side_effects, decision.record)
            ]
        )
        await asyncio.gather(
            *(
                self._refuse_about(resource, envelope, decision)
                if isinstance(decision, Refusal)
                else reply_best_effort(
                    self.messenger, envelope, 201, encode(decision.record.model), bounded=False
                )
                for resource, envelope, decision in decided
            )
        )

    async def refuse_unroutable(self, envelope: Envelope, error: ErrorBody) -> None:
        """Keep a message that names no command (dead-letter queue) and tell the sender; no
        ``<resource>.rejected`` event, as there is no resource to name."""
        logcontext.note(outcome=error.error.code.value)
        await self.messenger.dead_letter(envelope, error)
        await reply_best_effort(
            self.messenger, envelope, error.status, encode(error), bounded=False
        )

    async def _refuse_about(self, resource: Resource, envelope: Envelope, refusal: Refusal) -> None:
        """``refuse``, its log line carrying the message's fields (as on the one-by-one way)."""
        with logcontext.about(envelope):
            logcontext.note(entity_id=refusal.entity_id)
            await self.refuse(resource, envelope, refusal.error, refusal.entity_id)

    async def refuse(
        self,
        resource: Resource,
        envelope: Envelope,
        error: ErrorBody,
        tenant_entity: str | None = None,
    ) -> None:
        """Keep the message (dead-letter queue), tell subscribers and the sender why; the
        tenant of ``tenant_entity`` too (an entity the sender may act on)."""
        logcontext.note(outcome=error.error.code.value)
        log.info("refused %s %s: %s", resource.create_key, envelope.shown_id, error.error.message)
        await self.messenger.dead_letter(envelope, error)
        rejected = Rejected(command_id=envelope.shown_id, error=error.error)
        await self.messenger.publish_event(
            resource.rejected_key,
            encode(rejected),
            event_id=new_event_id(),
            correlation_id=envelope.shown_id,
            entity_id=envelope.entity_id,
            tenant_entity=tenant_entity,
        )
        await reply_best_effort(
            self.messenger, envelope, error.status, encode(error), bounded=False
        )
