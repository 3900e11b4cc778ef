"""What the query service needs from storage and the broker, as protocols it owns.

The MongoDB adapters implement the reader (``adapters/mongo/reader.py``) and the history of
events (``adapters/mongo/history.py``), the RabbitMQ messenger the event sink; the unit tests
fake them. Filters, sorts and documents are those of ``querying/`` (stored paths, plain Python
values). Every list read has a time limit: the database stops it after ``time_limit_ms``
milliseconds and the reader raises ``QueryTimeout``, which is the request's answer, never a
reason to retry.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from typing import Any, Protocol

from invoicebus_contracts import ErrorCode, Resource

from ..domain.errors import DomainError
from ..domain.records import Record
from ..messaging import Messenger, OutgoingEvent
from ..querying.compiler import Filter
from ..querying.fields import Document

Sort = list[tuple[str, int]]

#: What a client over its time budget is told, by where the time went ({limit}: " 2000 ms").
_ADVICE = {
    "database": "the list took longer than its time limit{limit}: narrow it with query, leave"
    " the total out (include_total_count: false), or search for longer, more selective text",
    "waiting": "no slot came free for this list request within its wait limit{limit}: this"
    " entity's other list requests held them all; send fewer list requests at once",
}


class QueryTimeout(DomainError):
    """A list request that did not finish within its time budget: ``query_timeout`` (503).

    ``stage`` says where the time went: ``waiting`` for a slot (the entity's other list
    requests held them all), or the ``database`` (the query itself was too costly). The
    message advises the client; ``limit_ms`` is the budget, when known.
    """

    def __init__(self, stage: str, limit_ms: int | None = None) -> None:
        limit = f" of {limit_ms} ms" if limit_ms is not None else ""
        super().__init__(ErrorCode.QUERY_TIMEOUT, _ADVICE[stage].format(limit=limit))
        self.stage = stage


class Reader(Protocol):
    async def find(
        self, resource: Resource, filter: Filter, sort: Sort, limit: int, *, time_limit_ms: int
    ) -> list[Document]:
        """Up to ``limit`` matching documents in ``sort`` order, without internal fields."""
        ...

    async def count(self, resource: Resource, filter: Filter, *, time_limit_ms: int) -> int: ...

    async def find_one(
        self, resource: Resource, filter: Filter, fields: list[str], *, time_limit_ms: int
    ) -> Document | None:
        """One matching document with only ``fields`` (and ``_id``)."""
        ...


class EventHistory(Protocol):
    def created_since(
        self,
        resources: Sequence[Resource],
        since: datetime,
        *,
        entity_id: str | None,
        after: str | None,
        batch_size: int,
    ) -> AsyncGenerator[Record[Any], None]:
        """Stored records of ``resources`` created at or after ``since`` (of ``entity_id``,
        or of every entity), after the id whose hex part is ``after``, in id order."""
        ...


class EventSink(Protocol):
    async def send_event(self, queue: str, event: OutgoingEvent) -> bool:
        """Publish ``event`` into ``queue``, confirmed; False when there is no such queue."""
        ...


class QueryMessenger(Messenger, EventSink, Protocol):
    """What the query service publishes with: replies, and replayed events."""
