"""What the query service needs from storage, as a protocol it owns.

The MongoDB adapter implements it (``adapters/mongo/reader.py``); the unit tests fake it.
Filters, sorts and documents are those of ``querying/`` (stored paths, plain Python values).
"""

from __future__ import annotations

from typing import Protocol

from invoicebus_contracts import Resource

from ..querying.compiler import Filter
from ..querying.fields import Document

Sort = list[tuple[str, int]]


class Reader(Protocol):
    async def find(
        self, resource: Resource, filter: Filter, sort: Sort, limit: int
    ) -> list[Document]:
        """Up to ``limit`` matching documents in ``sort`` order, without internal fields."""
        ...

    async def count(self, resource: Resource, filter: Filter) -> int: ...

    async def find_one(
        self, resource: Resource, filter: Filter, fields: list[str]
    ) -> Document | None:
        """One matching document with only ``fields`` (and ``_id``)."""
        ...
