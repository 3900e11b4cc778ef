"""What the query service needs from storage, as a protocol it owns.

The MongoDB adapter implements it (``adapters/mongo/reader.py``); the unit tests fake it.
Filters, sorts and documents are those of ``querying/`` (stored paths, plain Python values).
Every read has a time limit: the database stops it after ``time_limit_ms`` milliseconds and
the reader raises ``QueryTimeout``, which is the request's answer, never a reason to retry.
"""

from __future__ import annotations

from typing import Protocol

from invoicebus_contracts import ErrorCode, Resource

from ..domain.errors import DomainError
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
