"""What a log line says about the message it is about.

A consumer binds the message it handles (``about``) and, once they are known, the entity it
acts on and its outcome (``note``); ``runtime/logs.py`` adds them as fields to every line
logged meanwhile, by any logger: the services', FastStream's, the drivers'. A context variable
carries them, so concurrent messages never mix up their fields and nothing has to be passed
down the calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from invoicebus_contracts.text import shown

from .messaging import Envelope


@dataclass
class MessageFields:
    """The fields of a log line about one message (None: does not apply, left out)."""

    message_id: str | None = None
    correlation_id: str | None = None
    entity_id: str | None = None
    routing_key: str | None = None
    #: How it was settled: ``created``, an error code, ``requeue``, a reply status...
    outcome: str | None = None


#: The names of the fields, as the log lines carry them.
FIELDS = tuple(MessageFields.__dataclass_fields__)

_current: ContextVar[MessageFields | None] = ContextVar("invoicebus_message", default=None)


@contextmanager
def about(envelope: Envelope) -> Iterator[MessageFields]:
    """Lines logged inside carry the envelope's ids (UTF-8: bytes that are not as ``\\xNN``)."""
    fields = MessageFields(
        message_id=envelope.shown_id,
        correlation_id=None if envelope.correlation_id is None else shown(envelope.correlation_id),
        entity_id=None if envelope.entity_id is None else shown(envelope.entity_id),
        routing_key=shown(envelope.routing_key),
    )
    token = _current.set(fields)
    try:
        yield fields
    finally:
        _current.reset(token)


def note(*, outcome: str | None = None, entity_id: str | None = None) -> None:
    """What became known about the message being handled (its outcome, the entity it acts on),
    for the lines logged from now on."""
    fields = _current.get()
    if fields is None:
        return
    if outcome is not None:
        fields.outcome = outcome
    if entity_id is not None:
        fields.entity_id = entity_id


def current() -> dict[str, str]:
    """The fields of the message being handled that apply (none outside a message)."""
    fields = _current.get()
    if fields is None:
        return {}
    return {name: value for name, value in vars(fields).items() if value is not None}
