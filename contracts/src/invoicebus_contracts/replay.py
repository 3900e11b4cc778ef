"""Replaying stored events: the ``events.replay`` request and its reply.

Every created resource is stored with its ``<resource>.created`` event, so a subscriber that
bound its queue late can ask for the events it missed. The query service republishes them,
unchanged (the same event id as ``message_id``, ``correlation_id``, headers and body), to the
queue the request names, oldest first; the subscriber deduplicates on the event id as it does
for live events.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from . import limits
from .fields import format_timestamp
from .resources import EntityId
from .topology import Resource

#: The event types a replay can ask for: the ``created`` events, the ones stored.
REPLAYABLE_TYPES = tuple(resource.created_key for resource in Resource)


def _stored_type(value: str) -> str:
    if value not in REPLAYABLE_TYPES:
        raise ValueError(f"must be one of {', '.join(REPLAYABLE_TYPES)} (the stored events)")
    return value


def _utc(value: datetime) -> datetime:
    # A time without a zone is UTC, as every time of the contract.
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


EventType = Annotated[
    str, AfterValidator(_stored_type), Field(json_schema_extra={"enum": list(REPLAYABLE_TYPES)})
]
UtcTime = Annotated[
    datetime,
    AfterValidator(_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]
QueueName = Annotated[str, Field(min_length=1, max_length=limits.QUEUE_NAME_MAX)]


class ReplayRequest(BaseModel):
    """Body of ``events.replay`` on the queries exchange; ``reply_to`` is required."""

    model_config = ConfigDict(extra="forbid")

    to_queue: QueueName = Field(
        description="The queue to republish the events to (through the default exchange); it"
        " must exist, and must not be one of invoicebus's own queues."
    )
    since: UtcTime = Field(
        description="Events of resources created at or after this time (ISO-8601; UTC when"
        " no zone is given)."
    )
    entity_id: EntityId | None = Field(
        default=None, description="Only this entity's events; default: every entity's."
    )
    types: list[EventType] = Field(
        default_factory=list,
        max_length=len(REPLAYABLE_TYPES),
        description="Only these event types, e.g. customer.created; default: all of them.",
    )
    limit: int = Field(
        default=limits.REPLAY_LIMIT_DEFAULT,
        ge=1,
        le=limits.REPLAY_LIMIT_MAX,
        description="Republish at most this many events; next_cursor continues.",
    )
    next_cursor: str | None = Field(
        default=None,
        max_length=limits.CURSOR_MAX,
        description="From a previous reply: continue after its last event.",
    )


class ReplayReply(BaseModel):
    """The reply to ``events.replay`` (x-status 200), once every event is confirmed."""

    replayed: int = Field(description="How many events were republished.")
    has_more: bool = Field(description="More stored events match: ask again with next_cursor.")
    next_cursor: str | None = Field(description="Send it back to continue; null at the end.")
