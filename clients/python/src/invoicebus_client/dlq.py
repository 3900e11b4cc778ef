"""The dead-letter queue, as an operator works it: list, replay and discard, each over the
dead letters a filter chooses (message ids, error code, entity).

Browsing fetches messages unacked on a channel of its own; those it does not act on go back
to the queue when the channel closes, so each is seen once and none is lost. A replay
republishes a message to where it was first sent and acks it only once the broker confirmed
the copy; a discard acks it, and it is gone. Before a replay, the body is checked against the
contract: a message that is still invalid would only come straight back, so it stays where it
is, with the reason, unless the caller forces it.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aio_pika.exceptions import PublishError

from invoicebus_contracts import COMMAND_MODELS, ErrorBody, ErrorCode, ErrorDetail, Resource
from invoicebus_contracts.errors import error_body
from invoicebus_contracts.wire import InvalidMessage, parse

from .base import ClientBase
from .deadletters import DeadLetter, browse, dead_letter, origin, replay_message

#: The command each routing key of the contract carries.
COMMANDS = {resource.create_key: resource for resource in Resource}
DEFAULT_LIMIT = 1000


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters an operation is about; every criterion given must hold."""

    message_ids: frozenset[str] | None = None
    error_code: str | None = None
    entity_id: str | None = None

    @classmethod
    def of(
        cls,
        message_ids: Iterable[str] | None = None,
        error_code: str | None = None,
        entity_id: str | None = None,
    ) -> DeadLetterFilter:
        ids = None if message_ids is None else frozenset(message_ids)
        return cls(ids, error_code, entity_id)

    @property
    def everything(self) -> bool:
        return self.message_ids is None and self.error_code is None and self.entity_id is None

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (self.message_ids is None or letter.message_id in self.message_ids)
            and (self.error_code is None or letter.error_code == self.error_code)
            and (self.entity_id is None or letter.entity_id == self.entity_id)
        )


@dataclass(frozen=True)
class Kept:
    """A dead letter a replay left in the queue, and why."""

    letter: DeadLetter
    reason: ErrorBody


@dataclass(frozen=True)
class DlqReplay:
    """What a replay did: the dead letters it republished, and those it kept."""

    replayed: list[DeadLetter]
    kept: list[Kept]


def contract_refusal(letter: DeadLetter, body: bytes) -> ErrorBody | None:
    """Why the service would refuse this command again at once, as far as the contract says
    (its body); ``None`` when it passes. Whether the entity or a tax exists now is the
    service's to say."""
    key = letter.original_routing_key or ""
    resource = COMMANDS.get(key)
    if resource is None:
        message = f"{key or 'its routing key'} is not a command of the contract"
        return error_body(
            ErrorCode.VALIDATION_ERROR, message, [ErrorDetail(loc=["routing_key"], msg=message)]
        )
    try:
        parse(COMMAND_MODELS[resource], body)
    except InvalidMessage as exc:
        return exc.body
    return None


def _not_routable(letter: DeadLetter) -> ErrorBody:
    message = f"no queue takes {letter.original_routing_key} on {letter.original_exchange} any more"
    return error_body(
        ErrorCode.VALIDATION_ERROR, message, [ErrorDetail(loc=["routing_key"], msg=message)]
    )


class DeadLetterOps(ClientBase):
    async def dlq_list(
        self,
        limit: int = DEFAULT_LIMIT,
        *,
        message_ids: Iterable[str] | None = None,
        error_code: str | None = None,
        entity_id: str | None = None,
    ) -> builtins.list[DeadLetter]:
        """The dead letters among the first ``limit`` that match, left in the queue."""
        where = DeadLetterFilter.of(message_ids, error_code, entity_id)
        async with self._transport.own_channel(publisher_confirms=False) as channel:
            return [letter for _, letter in await self._matching(channel, where, limit)]

    async def dlq_replay(
        self,
        message_ids: Iterable[str] | None = None,
        *,
        error_code: str | None = None,
        entity_id: str | None = None,
        limit: int = DEFAULT_LIMIT,
        force: bool = False,
    ) -> DlqReplay:
        """Republish the matching dead letters (all of them when no criterion is given) to
        where they were first sent, without the error headers; each leaves the queue once the
        broker has confirmed its copy. One whose body still breaks the contract is kept, with
        the reason, unless ``force``."""
        where = DeadLetterFilter.of(message_ids, error_code, entity_id)
        replayed: builtins.list[DeadLetter] = []
        kept: builtins.list[Kept] = []
        async with self._transport.own_channel(publisher_confirms=True) as channel:
            for message, letter in await self._matching(channel, where, limit):
                refusal = None if force else contract_refusal(letter, message.body)
                if refusal is None:
                    refusal = await _republish(channel, letter, message)
                if refusal is not None:
                    kept.append(Kept(letter, refusal))
                    continue
                await message.ack()
                replayed.append(letter)
        return DlqReplay(replayed, kept)

    async def dlq_discard(
        self,
        message_ids: Iterable[str] | None = None,
        *,
        error_code: str | None = None,
        entity_id: str | None = None,
        limit: int = DEFAULT_LIMIT,
        everything: bool = False,
    ) -> builtins.list[DeadLetter]:
        """Remove the matching dead letters for good; returns them. Without a criterion it
        refuses, unless ``everything`` says that every dead letter is meant."""
        where = DeadLetterFilter.of(message_ids, error_code, entity_id)
        if where.everything and not everything:
            raise ValueError("give message ids, an error code or an entity, or everything=True")
        discarded: builtins.list[DeadLetter] = []
        async with self._transport.own_channel(publisher_confirms=False) as channel:
            for message, letter in await self._matching(channel, where, limit):
                await message.ack()
                discarded.append(letter)
        return discarded

    async def _matching(
        self, channel: AbstractChannel, where: DeadLetterFilter, limit: int
    ) -> builtins.list[tuple[AbstractIncomingMessage, DeadLetter]]:
        """The dead letters among the first ``limit`` that ``where`` chooses, fetched unacked
        on ``channel`` (the others go back to the queue when it closes)."""
        fetched = await browse(channel, self.topology.dead_letter_queue, limit)
        pairs = [(message, dead_letter(message)) for message in fetched]
        return [(message, letter) for message, letter in pairs if where.matches(letter)]


async def _republish(
    channel: AbstractChannel, letter: DeadLetter, message: AbstractIncomingMessage
) -> ErrorBody | None:
    """Send the original again (``channel`` confirms and raises returns); why not, if it
    cannot be."""
    # As sent: a name that is not UTF-8 keeps its bytes (``origin``), so it goes exactly there.
    exchange_name, routing_key = origin(message)
    if exchange_name is None or routing_key is None:
        return _not_routable(letter)
    exchange = await channel.get_exchange(exchange_name, ensure=False)
    try:
        await exchange.publish(replay_message(message), routing_key)
    except PublishError:
        return _not_routable(letter)
    return None
