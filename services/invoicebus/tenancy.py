"""Which entity a command or list request acts on, for a given caller.

Entities are the tenants (``Resource.tenant_scoped``): every resource but an entity belongs to
one, and every command or list of such a resource acts on one. The ``x-entity-id`` header has
three states: absent (the caller's default entity), an entity id (that one, if the caller may
act on it), or anything else, blank and malformed values included (``entity_not_found``
naming the header: only an absent header means the default).

- An unrestricted caller (an admin, or anyone while authorization is off) may name any
  existing entity; its default is the first entity created.
- Anyone else may name only an entity granted to it; its default is the first entity granted
  to it.
- An entity that does not exist, and one the caller holds no grant for, are refused alike:
  ``entity_not_found`` with the same message, so a refusal tells nothing about other tenants.
  It is never a silent fallback.

Grants are looked up in storage; a positive answer may be kept ``cache_seconds`` (so a revoke
takes effect within that time), a negative one never (so a new grant works at once).
Entities are never deleted, so the first one, once found, is remembered.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from cachetools import LRUCache, TTLCache

from invoicebus_contracts import ENTITY_ID_PATTERN, ErrorCode, Header, Resource

from .domain.errors import DomainError

_ENTITY_ID = re.compile(ENTITY_ID_PATTERN)
Lookup = Callable[[], Awaitable[str | None]]
#: Grants and defaults kept per replica, at most (the oldest go first).
CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Caller:
    """Who acts, as far as choosing an entity goes."""

    #: The principal (a RabbitMQ user name, or an API key's principal); None: anonymous,
    #: which only authorization ``off`` lets through.
    principal: str | None
    #: May act on every entity: an admin, or anyone while authorization is off.
    unrestricted: bool

    @property
    def list_scope(self) -> str | None:
        """Whose entities ``entity.list`` shows: None for every entity."""
        return None if self.unrestricted else self.principal


#: What authorization ``off`` means for a sender: it may act on every entity.
def unrestricted(principal: str | None) -> Caller:
    return Caller(principal, unrestricted=True)


class EntityLookups(Protocol):
    """What tenancy needs to know about the stored entities and their grants."""

    async def first_entity_id(self) -> str | None: ...

    async def entity_exists(self, entity_id: str) -> bool: ...

    async def first_granted(self, principal: str) -> str | None:
        """The oldest entity granted to ``principal``."""
        ...

    async def granted(self, principal: str, entity_id: str) -> bool:
        """Whether ``entity_id`` exists and is granted to ``principal``."""
        ...


class Tenancy:
    def __init__(
        self,
        entities: EntityLookups,
        *,
        cache_seconds: float = 5.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.entities = entities
        self._first: str | None = None
        self._cache_seconds = cache_seconds
        # (principal, entity) -> True for a grant seen; (principal, None) -> its default.
        self._grants: TTLCache[tuple[str, str | None], str] = TTLCache(
            CACHE_SIZE, max(cache_seconds, 0.001), timer=timer
        )
        self._existing: LRUCache[str, bool] = LRUCache(CACHE_SIZE)

    async def entity_for(
        self, resource: Resource, header: str | None, caller: Caller
    ) -> str | None:
        """The entity a message about ``resource`` acts on; None for entities themselves."""
        if not resource.tenant_scoped:
            return None
        return await self.resolve(header, caller)

    async def resolve(self, header: str | None, caller: Caller) -> str:
        """The ``x-entity-id`` header (None: absent), checked; else the caller's default."""
        if header is not None:
            if not _ENTITY_ID.fullmatch(header):
                raise DomainError(
                    ErrorCode.ENTITY_NOT_FOUND,
                    f"entity {header[:64]!r} does not exist: {Header.ENTITY_ID.value} must be"
                    " an entity id (ent_ and 24 hex digits), or be left out to act on the"
                    " default entity",
                    [Header.ENTITY_ID.value],
                )
            if await self._may_act_on(caller, header):
                return header
            raise DomainError(
                ErrorCode.ENTITY_NOT_FOUND,
                f"entity {header!r} does not exist",
                [Header.ENTITY_ID.value],
            )
        if caller.unrestricted:
            return await self._first_entity()
        assert caller.principal is not None  # only unrestricted callers may be anonymous
        found = await self._cached(
            (caller.principal, None), lambda: self.entities.first_granted(caller.principal or "")
        )
        if found is None:
            raise DomainError(
                ErrorCode.ENTITY_NOT_FOUND,
                f"no entity is granted to {caller.principal!r} yet: create one first with an"
                " entity.create command, or ask an operator for a grant",
                [Header.ENTITY_ID.value],
            )
        return found

    async def _may_act_on(self, caller: Caller, entity_id: str) -> bool:
        if caller.unrestricted:
            # Entities are never deleted: one that exists is remembered for good.
            if entity_id in self._existing:
                return True
            exists = await self.entities.entity_exists(entity_id)
            if exists:
                self._existing[entity_id] = True
            return exists
        principal = caller.principal or ""

        async def granted() -> str | None:
            return entity_id if await self.entities.granted(principal, entity_id) else None

        return await self._cached((principal, entity_id), granted) is not None

    async def _cached(self, key: tuple[str, str | None], look_up: Lookup) -> str | None:
        """A positive answer from the cache if younger than ``cache_seconds``; else asked."""
        if self._cache_seconds > 0 and (hit := self._grants.get(key)) is not None:
            return hit
        found = await look_up()
        if found is not None and self._cache_seconds > 0:
            self._grants[key] = found
        return found

    async def _first_entity(self) -> str:
        if self._first is None:
            self._first = await self.entities.first_entity_id()
        if self._first is None:
            raise DomainError(
                ErrorCode.ENTITY_NOT_FOUND,
                "no entity exists yet: create one first with an entity.create command",
                [Header.ENTITY_ID.value],
            )
        return self._first
