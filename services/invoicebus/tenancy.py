"""Which entity a command or list request acts on: the one place both services ask.

Entities are the tenants (``Resource.tenant_scoped``): every resource but an entity belongs to
one, and every command or list of such a resource acts on one. It is the ``x-entity-id``
header when given (it must name an existing entity: an unknown one is ``entity_not_found``,
never a silent fallback), else the first entity created. Entities are never deleted, so the
first one, once found, is remembered.
"""

from __future__ import annotations

import re
from typing import Protocol

from invoicebus_contracts import ENTITY_ID_PATTERN, ErrorCode, Header, Resource

from .domain.errors import DomainError

_ENTITY_ID = re.compile(ENTITY_ID_PATTERN)


class EntityLookups(Protocol):
    """What tenancy needs to know about the stored entities."""

    async def first_entity_id(self) -> str | None: ...

    async def entity_exists(self, entity_id: str) -> bool: ...


class Tenancy:
    def __init__(self, entities: EntityLookups) -> None:
        self.entities = entities
        self._first: str | None = None

    async def entity_for(self, resource: Resource, header: str | None) -> str | None:
        """The entity a message about ``resource`` acts on; None for entities themselves."""
        if not resource.tenant_scoped:
            return None
        return await self.resolve(header)

    async def resolve(self, header: str | None) -> str:
        """The ``x-entity-id`` header, checked; else the first created entity."""
        if header:
            if _ENTITY_ID.match(header) and await self.entities.entity_exists(header):
                return header
            raise DomainError(
                ErrorCode.ENTITY_NOT_FOUND,
                f"entity {header[:64]!r} does not exist",
                [Header.ENTITY_ID.value],
            )
        if self._first is None:
            self._first = await self.entities.first_entity_id()
        if self._first is None:
            raise DomainError(
                ErrorCode.ENTITY_NOT_FOUND,
                "no entity exists yet: create one first with an entity.create command",
                [Header.ENTITY_ID.value],
            )
        return self._first
