"""Who is acting, and on which entity: the one place both services ask.

The principal of a message is its AMQP ``user_id`` property, which RabbitMQ refuses to pass
unless it names the connection's own user (``PRECONDITION_FAILED``; only a user tagged
``impersonator`` may set another, so no tenant may have that tag). A trusted gateway
(``INVOICEBUS_GATEWAYS``) acts for its HTTP callers instead: it forwards the SHA-256 of the
caller's API key in ``x-invoicebus-key-sha256``, and the principal is the key's. That header
is read from a gateway only; from anyone else it is ignored.

With ``INVOICEBUS_AUTH=required`` a message without ``user_id`` (or a gateway's message
without a known, unrevoked key) is ``unauthenticated`` (401); admins (``INVOICEBUS_ADMINS``)
may act on every entity, anyone else on the entities granted to it (``tenancy``). With
``off`` nothing is checked: every sender acts on every entity, as before authorization.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cachetools import TTLCache

from invoicebus_contracts import ErrorCode, Header, Resource

from .domain.errors import DomainError
from .messaging import Envelope
from .settings import AuthMode, Settings
from .tenancy import CACHE_SIZE, Caller, Tenancy, unrestricted

_KEY_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ApiKeys(Protocol):
    async def principal_of(self, key_sha256: str) -> str | None:
        """The principal of the unrevoked API key with this SHA-256 (hex), if any."""
        ...


@dataclass(frozen=True)
class Policy:
    """The authorization settings."""

    mode: AuthMode
    admins: frozenset[str] = frozenset()
    gateways: frozenset[str] = frozenset()
    cache_seconds: float = 5.0

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(settings.auth, settings.admins, settings.gateways, settings.grant_cache_seconds)


@dataclass(frozen=True)
class Acting:
    """Who acts, and on which entity (None for an entity command or ``entity.list``)."""

    caller: Caller
    entity_id: str | None


class Access:
    def __init__(
        self,
        policy: Policy,
        tenancy: Tenancy,
        keys: ApiKeys,
        *,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.tenancy = tenancy
        self.keys = keys
        self._keys: TTLCache[str, str] = TTLCache(
            CACHE_SIZE, max(policy.cache_seconds, 0.001), timer=timer
        )

    async def resolve(self, resource: Resource, envelope: Envelope) -> Acting:
        """The caller and its entity; ``unauthenticated`` or ``entity_not_found`` if none."""
        caller = await self.caller(envelope)
        return Acting(caller, await self.tenancy.entity_for(resource, envelope.entity_id, caller))

    async def caller(self, envelope: Envelope) -> Caller:
        principal = envelope.user_id
        if self.policy.mode is AuthMode.OFF:
            return unrestricted(principal)
        if not principal:
            raise _unauthenticated(
                "the message has no user_id property: set it to the RabbitMQ user you connect"
                " as (the broker checks it)",
                "user_id",
            )
        if principal in self.policy.gateways:
            principal = await self._key_principal(envelope.header(Header.KEY_SHA256))
        return Caller(principal, unrestricted=principal in self.policy.admins)

    async def _key_principal(self, key_sha256: str | None) -> str:
        """The principal of the API key a gateway forwarded."""
        if not key_sha256:
            raise _unauthenticated("no API key was given", Header.KEY_SHA256.value)
        principal = self._keys.get(key_sha256) if self.policy.cache_seconds > 0 else None
        if principal is None and _KEY_SHA256.match(key_sha256):
            principal = await self.keys.principal_of(key_sha256)
            if principal is not None and self.policy.cache_seconds > 0:
                self._keys[key_sha256] = principal
        if principal is None:
            raise _unauthenticated("the API key is unknown or revoked", Header.KEY_SHA256.value)
        return principal


def announce_auth(settings: Settings, log: logging.Logger) -> None:
    """One line at start: whether authorization is enforced, and who is trusted."""
    if settings.auth is AuthMode.OFF:
        log.warning(
            "authorization is OFF (INVOICEBUS_AUTH=off): every sender acts on every entity;"
            " for development only"
        )
        return
    log.info(
        "authorization required: admins %s, gateways %s; grants cached up to %gs",
        sorted(settings.admins) or "none",
        sorted(settings.gateways) or "none",
        settings.grant_cache_seconds,
    )


def _unauthenticated(message: str, field: str) -> DomainError:
    return DomainError(ErrorCode.UNAUTHENTICATED, message, [field])
