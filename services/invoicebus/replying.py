"""A reply is best effort, in every service: the one place that rule lives.

By the time a command or a list request is answered, whatever it asked for is done (the
command's record is stored and its event confirmed; a list request changed nothing). So a
``reply_to`` that refuses the reply (a full queue that rejects publishes, a queue that is gone)
or, for a list request, a broker that does not confirm it within ``REPLY_TIMEOUT_SECONDS`` is
counted (``invoicebus_undeliverable_replies_total``, by request) and logged, never raised:
the caller settles the message all the same. Retrying the reply, or holding the message, would
only hold a prefetch slot that other clients' messages need.

A reply that is slow to confirm is left to finish on its own, never cancelled: cancelling a
publish half-way through writing its frames can break the channel that every other message
of the service shares.
"""

from __future__ import annotations

import asyncio
import logging

from invoicebus_contracts.text import shown

from . import metrics
from .messaging import Envelope, Messenger

log = logging.getLogger(__name__)

#: How long a reply may take to be confirmed by the broker before it counts as undeliverable.
REPLY_TIMEOUT_SECONDS = 5.0


async def reply_best_effort(
    messenger: Messenger,
    envelope: Envelope,
    status: int,
    body: bytes,
    *,
    bounded: bool = True,
) -> bool:
    """Send the reply; whether it was delivered (a failure is counted and logged).

    ``bounded=False`` waits for the broker's answer however long it takes: a refusing queue is
    answered at once (a nack), and a publish cancelled half-way under load is worse than a slow
    one. The command service waits so, as it waits for its events' confirms."""
    sending = asyncio.ensure_future(messenger.reply(envelope, status, body))
    try:
        if bounded:
            done, _ = await asyncio.wait({sending}, timeout=REPLY_TIMEOUT_SECONDS)
            if not done:
                _let_finish(sending)
                raise TimeoutError(f"not confirmed within {REPLY_TIMEOUT_SECONDS} s")
        await sending
    except Exception as exc:
        metrics.UNDELIVERABLE_REPLIES.labels(envelope.routing_key).inc()
        log.warning(
            "reply to %s (correlation_id %s, reply_to %r) was not delivered (%r); the"
            " message is settled all the same",
            envelope.routing_key,
            envelope.correlation_id and shown(envelope.correlation_id),
            envelope.reply_address,
            exc,
        )
        return False
    return True


#: Replies still being confirmed after their caller moved on (a reference keeps each alive).
_UNFINISHED: set[asyncio.Future[None]] = set()


def _let_finish(sending: asyncio.Future[None]) -> None:
    _UNFINISHED.add(sending)
    sending.add_done_callback(_forget)


def _forget(sending: asyncio.Future[None]) -> None:
    _UNFINISHED.discard(sending)
    if not sending.cancelled():
        sending.exception()  # retrieved: it was counted when the wait ended
