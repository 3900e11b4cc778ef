"""API keys: a principal's credential for the HTTP gateway. Written and queried here only.

A key is 256 random bits, shown once when it is made; only its SHA-256 is stored (a hash
that needs no salt or stretching: the key is random, not a password). The gateway never
reads this collection: it forwards the hash of the key it was given, and the services look
the principal up here (``principal_of``). A revoked key is kept, marked, for the record.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ...domain import clock
from ...querying.fields import Document

COLLECTION = "api_keys"
HASH_INDEX = "api_key_sha256"
#: Keys start with this, so a leaked one is recognisable (e.g. by secret scanners).
KEY_PREFIX = "ibk_"
#: How many characters of a key identify it in listings and ``keys revoke --prefix``.
SHOWN = len(KEY_PREFIX) + 8


def sha256(key: str) -> str:
    """What the gateway forwards and what is stored: the key's SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    id: str
    principal: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def _info(doc: Document) -> KeyInfo:
    return KeyInfo(
        doc["_id"], doc["principal"], doc["prefix"], doc["created_at"], doc.get("revoked_at")
    )


class MongoApiKeys:
    """The ``access.ApiKeys`` of the services, and the operator's ``invoicebus keys``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.keys: AsyncCollection[Document] = db[COLLECTION]

    async def ensure_indexes(self) -> None:
        await self.keys.create_index([("sha256", ASCENDING)], name=HASH_INDEX, unique=True)

    async def principal_of(self, key_sha256: str) -> str | None:
        doc = await self.keys.find_one({"sha256": key_sha256, "revoked_at": None})
        return doc["principal"] if doc else None

    async def create(self, principal: str) -> tuple[str, KeyInfo]:
        """A new key for ``principal``: the key itself (never stored) and what is stored."""
        await self.ensure_indexes()
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        doc = {
            "_id": "key_" + secrets.token_hex(12),
            "principal": principal,
            "prefix": key[:SHOWN],
            "sha256": sha256(key),
            "created_at": clock.now(),
        }
        await self.keys.insert_one(doc)
        return key, _info(doc)

    async def revoke(
        self, *, key_id: str | None = None, prefix: str | None = None
    ) -> list[KeyInfo]:
        """Revoke the unrevoked keys with this id or key prefix (at least ``SHOWN``
        characters: a shorter one could name several keys); the ones revoked."""
        if prefix is not None and len(prefix) < SHOWN:
            raise ValueError(f"a key prefix has at least {SHOWN} characters, as keys list shows")
        query: Document = {"revoked_at": None}
        if key_id:
            query["_id"] = key_id
        if prefix:
            query["prefix"] = prefix[:SHOWN]
        found = [_info(doc) async for doc in self.keys.find(query)]
        for info in found:
            await self.keys.update_one({"_id": info.id}, {"$set": {"revoked_at": clock.now()}})
        return found

    async def listing(self, principal: str | None = None) -> list[KeyInfo]:
        query: Document = {"principal": principal} if principal else {}
        return [_info(doc) async for doc in self.keys.find(query, sort=[("created_at", ASCENDING)])]
